/* The queue of datagrams whose handling waits (rxq.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxq.h"

void rxq_init(struct rxq *q, size_t max_bytes)
{
	memset(q, 0, sizeof(*q));
	q->max_bytes = max_bytes;
}

int rxq_push(struct rxq *q, struct net_sock *sock, const uint8_t *buf, size_t len,
	     const struct net_dgram *dg)
{
	struct rxq_item *it;

	if (len > q->max_bytes || q->bytes > q->max_bytes - len) {
		q->refused++;
		return -ENOBUFS;
	}
	it = malloc(sizeof(*it) + len);
	if (!it)
		return -ENOMEM;
	it->next = NULL;
	it->sock = sock;
	it->dg = *dg;
	it->len = len;
	memcpy(it->buf, buf, len);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	q->bytes += len;
	return 0;
}

struct rxq_item *rxq_pop(struct rxq *q)
{
	struct rxq_item *it = q->head;

	if (!it)
		return NULL;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	q->bytes -= it->len;
	it->next = NULL;
	return it;
}

void rxq_clear(struct rxq *q)
{
	struct rxq_item *it;

	while ((it = rxq_pop(q)))
		free(it);
}
