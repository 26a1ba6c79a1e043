/* See net.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

struct link {
	struct simnet_link_conf conf;
	struct simnet_link_stats stats;
	struct simr rng;
	bool bad;		/* Gilbert-Elliott state */
	bool cut;
};

struct mapping {
	struct simnet_addr priv;	/* address and port behind the NAT */
	uint16_t port;			/* public */
	uint64_t used_ms;
};

struct nat {
	bool on;
	struct simnet_addr pub;
	struct mapping *map;
	size_t n_map, cap_map;
	uint16_t port_first, port_last;	/* the ports it maps to */
	uint16_t next_port;
	uint64_t idle_ms;		/* 0: mappings never expire */
};

struct node {
	char name[SIMNET_NAME_MAX];
	struct simnet_addr addrs[SIMNET_ADDRS_MAX];
	size_t n_addrs;
	struct nat nat;
};

struct flight {
	uint64_t at_ms;
	uint64_t id;			/* send order: breaks ties in at_ms */
	uint32_t from, to;
	struct simnet_addr src, dst;	/* on the wire */
	bool to_nat;			/* dst is the receiver's NAT's public address */
	uint8_t *buf;
	size_t len;
};

struct simnet {
	struct simr rng;		/* never drawn from: each link derives its stream */
	struct simnet_link_conf dflt;
	struct node *nodes;
	size_t n_nodes;
	struct link *links;		/* n_nodes x n_nodes, row = sender */
	struct flight **heap;		/* min-heap on (at_ms, id) */
	size_t n_heap, cap_heap;
	uint64_t next_id;
	uint64_t unroutable;
	struct simnet_event trace[SIMNET_TRACE_LEN];
	size_t trace_next, trace_n;
	void (*observer)(const struct simnet_event *ev, void *arg);
	void *observer_arg;
};

/* Events. */

static void event(struct simnet *net, enum simnet_event_kind kind, uint64_t at_ms, uint32_t from,
		  uint32_t to, const struct simnet_addr *src, const struct simnet_addr *dst,
		  size_t len, uint64_t id)
{
	struct simnet_event *ev = &net->trace[net->trace_next];

	*ev = (struct simnet_event){
		.at_ms = at_ms, .kind = kind, .from_node = from, .to_node = to,
		.src = *src, .dst = *dst, .len = (uint32_t)len, .id = id,
	};
	net->trace_next = (net->trace_next + 1) % SIMNET_TRACE_LEN;
	if (net->trace_n < SIMNET_TRACE_LEN)
		net->trace_n++;
	if (net->observer)
		net->observer(ev, net->observer_arg);
}

void simnet_set_observer(struct simnet *net,
			 void (*fn)(const struct simnet_event *ev, void *arg), void *arg)
{
	net->observer = fn;
	net->observer_arg = arg;
}

static const char *const kind_names[] = {
	[SIMNET_EV_SENT] = "sent",
	[SIMNET_EV_DELIVERED] = "delivered",
	[SIMNET_EV_LOST] = "lost",
	[SIMNET_EV_DUPLICATED] = "duplicated",
	[SIMNET_EV_CUT] = "cut",
	[SIMNET_EV_NAT_DROPPED] = "nat-dropped",
	[SIMNET_EV_UNROUTABLE] = "unroutable",
};

const char *simnet_event_str(const struct simnet *net, const struct simnet_event *ev, char *buf,
			     size_t len)
{
	char src[SIMNET_ADDRSTRLEN], dst[SIMNET_ADDRSTRLEN];
	const char *kind = (size_t)ev->kind < sizeof(kind_names) / sizeof(kind_names[0]) ?
		kind_names[ev->kind] : "?";
	const char *to = ev->to_node < net->n_nodes ? net->nodes[ev->to_node].name : "?";
	const char *from = ev->from_node < net->n_nodes ? net->nodes[ev->from_node].name : "?";

	snprintf(buf, len, "%6" PRIu64 ".%03" PRIu64 " %-11s %s %s -> %s %s len %" PRIu32
		 " #%" PRIu64, ev->at_ms / 1000, ev->at_ms % 1000, kind, from,
		 simnet_addr_str(&ev->src, src, sizeof(src)), to,
		 simnet_addr_str(&ev->dst, dst, sizeof(dst)), ev->len, ev->id);
	return buf;
}

void simnet_dump_recent(const struct simnet *net, FILE *f)
{
	size_t first = (net->trace_next + SIMNET_TRACE_LEN - net->trace_n) % SIMNET_TRACE_LEN;
	char line[256];

	for (size_t i = 0; i < net->trace_n; i++) {
		const struct simnet_event *ev = &net->trace[(first + i) % SIMNET_TRACE_LEN];

		fprintf(f, "%s\n", simnet_event_str(net, ev, line, sizeof(line)));
	}
}

/* The net and its nodes. */

struct simnet *simnet_new(struct simr *r)
{
	struct simnet *net = calloc(1, sizeof(*net));

	if (!net)
		return NULL;
	net->rng = simr_split(r);
	net->dflt.delay_ms = 10;
	return net;
}

void simnet_free(struct simnet *net)
{
	if (!net)
		return;
	for (size_t i = 0; i < net->n_heap; i++) {
		free(net->heap[i]->buf);
		free(net->heap[i]);
	}
	free(net->heap);
	for (size_t i = 0; i < net->n_nodes; i++)
		free(net->nodes[i].nat.map);
	free(net->nodes);
	free(net->links);
	free(net);
}

static struct link *link_of(const struct simnet *net, uint32_t from, uint32_t to)
{
	return &net->links[(size_t)from * net->n_nodes + to];
}

/* Does any node have addr, or any NAT have it as its public address? */
static bool addr_taken(const struct simnet *net, const struct simnet_addr *addr)
{
	for (size_t i = 0; i < net->n_nodes; i++) {
		const struct node *n = &net->nodes[i];

		if (n->nat.on && simnet_addr_equal(&n->nat.pub, addr, false))
			return true;
		for (size_t j = 0; j < n->n_addrs; j++)
			if (simnet_addr_equal(&n->addrs[j], addr, false))
				return true;
	}
	return false;
}

static bool nat_applies(const struct nat *nat, uint16_t family)
{
	return nat->on && nat->pub.family == family;
}

/* The node a datagram to addr reaches (-1: none), and whether through its NAT. */
static int route(const struct simnet *net, const struct simnet_addr *addr, bool *ret_nat)
{
	for (size_t i = 0; i < net->n_nodes; i++) {
		const struct node *n = &net->nodes[i];

		if (n->nat.on && simnet_addr_equal(&n->nat.pub, addr, false)) {
			*ret_nat = true;
			return (int)i;
		}
	}
	for (size_t i = 0; i < net->n_nodes; i++) {
		const struct node *n = &net->nodes[i];

		if (nat_applies(&n->nat, addr->family))
			continue;	/* private behind its NAT */
		for (size_t j = 0; j < n->n_addrs; j++) {
			if (simnet_addr_equal(&n->addrs[j], addr, false)) {
				*ret_nat = false;
				return (int)i;
			}
		}
	}
	return -1;
}

int simnet_node_of(const struct simnet *net, const struct simnet_addr *addr)
{
	bool via_nat;
	int node = route(net, addr, &via_nat);

	return node < 0 ? -ENOENT : node;
}

int simnet_node_add(struct simnet *net, const char *name, const struct simnet_addr *addrs,
		    size_t n)
{
	size_t old = net->n_nodes, cnt = old + 1;
	struct node *nodes, *node;
	struct link *links;

	if (!name || !addrs || n == 0 || n > SIMNET_ADDRS_MAX || old >= INT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!simnet_addr_valid(&addrs[i]))
			return -EINVAL;
		if (addr_taken(net, &addrs[i]))
			return -EEXIST;
		for (size_t j = 0; j < i; j++)
			if (simnet_addr_equal(&addrs[i], &addrs[j], false))
				return -EEXIST;
	}
	links = calloc(cnt * cnt, sizeof(*links));
	if (!links)
		return -ENOMEM;
	nodes = realloc(net->nodes, cnt * sizeof(*nodes));
	if (!nodes) {
		free(links);
		return -ENOMEM;
	}
	net->nodes = nodes;
	for (size_t from = 0; from < cnt; from++) {
		for (size_t to = 0; to < cnt; to++) {
			struct link *l = &links[from * cnt + to];

			if (from < old && to < old) {
				*l = net->links[from * old + to];
				continue;
			}
			l->conf = net->dflt;
			l->rng = simr_derive(&net->rng, (uint64_t)from << 32 | to);
		}
	}
	free(net->links);
	net->links = links;
	node = &nodes[old];
	memset(node, 0, sizeof(*node));
	snprintf(node->name, sizeof(node->name), "%s", name);
	for (size_t i = 0; i < n; i++) {
		node->addrs[i] = addrs[i];
		node->addrs[i].port = 0;
	}
	node->n_addrs = n;
	net->n_nodes = cnt;
	return (int)old;
}

const char *simnet_node_name(const struct simnet *net, uint32_t node)
{
	return node < net->n_nodes ? net->nodes[node].name : NULL;
}

size_t simnet_node_count(const struct simnet *net)
{
	return net->n_nodes;
}

/* Links and partitions. */

static bool node_ok(const struct simnet *net, uint32_t node, bool all)
{
	return node < net->n_nodes || (all && node == SIMNET_ALL);
}

int simnet_link_set(struct simnet *net, uint32_t from, uint32_t to,
		    const struct simnet_link_conf *conf)
{
	if (!conf)
		return -EINVAL;
	if (!node_ok(net, from, true) || !node_ok(net, to, true))
		return -ENOENT;
	for (uint32_t f = 0; f < net->n_nodes; f++) {
		if (from != SIMNET_ALL && f != from)
			continue;
		for (uint32_t t = 0; t < net->n_nodes; t++)
			if (to == SIMNET_ALL || t == to)
				link_of(net, f, t)->conf = *conf;
	}
	if (from == SIMNET_ALL && to == SIMNET_ALL)
		net->dflt = *conf;
	return 0;
}

int simnet_link_get(const struct simnet *net, uint32_t from, uint32_t to,
		    struct simnet_link_conf *ret)
{
	if (!node_ok(net, from, false) || !node_ok(net, to, false))
		return -ENOENT;
	*ret = link_of(net, from, to)->conf;
	return 0;
}

int simnet_link_stats(const struct simnet *net, uint32_t from, uint32_t to,
		      struct simnet_link_stats *ret)
{
	if (!node_ok(net, from, false) || !node_ok(net, to, false))
		return -ENOENT;
	*ret = link_of(net, from, to)->stats;
	return 0;
}

uint64_t simnet_unroutable(const struct simnet *net)
{
	return net->unroutable;
}

int simnet_partition(struct simnet *net, uint32_t a, uint32_t b, bool cut)
{
	if (!node_ok(net, a, true) || !node_ok(net, b, true))
		return -ENOENT;
	if (a == SIMNET_ALL) {
		a = b;
		b = SIMNET_ALL;
	}
	for (uint32_t x = 0; x < net->n_nodes; x++) {
		for (uint32_t y = 0; y < net->n_nodes; y++) {
			bool hit = (a == SIMNET_ALL && x != y) ||
				   (b == SIMNET_ALL && x != y && (x == a || y == a)) ||
				   (x == a && y == b) || (x == b && y == a);

			if (hit)
				link_of(net, x, y)->cut = cut;
		}
	}
	return 0;
}

/* NAT. */

static bool mapping_live(const struct nat *nat, const struct mapping *m, uint64_t now_ms)
{
	return nat->idle_ms == 0 || now_ms < m->used_ms || now_ms - m->used_ms < nat->idle_ms;
}

static void nat_expire(struct nat *nat, uint64_t now_ms)
{
	size_t keep = 0;

	for (size_t i = 0; i < nat->n_map; i++)
		if (mapping_live(nat, &nat->map[i], now_ms))
			nat->map[keep++] = nat->map[i];
	nat->n_map = keep;
}

static struct mapping *mapping_by_port(struct nat *nat, uint16_t port)
{
	for (size_t i = 0; i < nat->n_map; i++)
		if (nat->map[i].port == port)
			return &nat->map[i];
	return NULL;
}

static struct mapping *mapping_by_priv(struct nat *nat, const struct simnet_addr *priv)
{
	for (size_t i = 0; i < nat->n_map; i++)
		if (simnet_addr_equal(&nat->map[i].priv, priv, true))
			return &nat->map[i];
	return NULL;
}

/* The mapping for priv, made when missing: ports in order, skipping those in use. */
static int mapping_out(struct nat *nat, const struct simnet_addr *priv, uint64_t now_ms,
		       struct mapping **ret)
{
	const size_t ports = (size_t)nat->port_last - nat->port_first + 1;
	struct mapping *m;
	uint16_t port = 0;

	nat_expire(nat, now_ms);
	m = mapping_by_priv(nat, priv);
	if (m) {
		*ret = m;
		return 0;
	}
	if (nat->n_map >= ports)
		return -ENOSPC;
	if (nat->n_map == nat->cap_map) {
		size_t cap = nat->cap_map ? nat->cap_map * 2 : 4;
		struct mapping *map = realloc(nat->map, cap * sizeof(*map));

		if (!map)
			return -ENOMEM;
		nat->map = map;
		nat->cap_map = cap;
	}
	do {
		port = nat->next_port;
		nat->next_port = port >= nat->port_last ? nat->port_first : port + 1;
	} while (mapping_by_port(nat, port));
	m = &nat->map[nat->n_map++];
	*m = (struct mapping){ .priv = *priv, .port = port, .used_ms = now_ms };
	*ret = m;
	return 0;
}

static struct nat *nat_of(struct simnet *net, uint32_t node)
{
	return node < net->n_nodes && net->nodes[node].nat.on ? &net->nodes[node].nat : NULL;
}

int simnet_nat(struct simnet *net, uint32_t node, const struct simnet_addr *public_addr)
{
	struct nat *nat;

	if (node >= net->n_nodes)
		return -ENOENT;
	nat = &net->nodes[node].nat;
	if (nat->on)
		return -EALREADY;
	if (!simnet_addr_valid(public_addr))
		return -EINVAL;
	if (addr_taken(net, public_addr))
		return -EEXIST;
	nat->on = true;
	nat->pub = *public_addr;
	nat->pub.port = 0;
	nat->port_first = SIMNET_NAT_PORT_FIRST;
	nat->port_last = 65535;
	nat->next_port = SIMNET_NAT_PORT_FIRST;
	return 0;
}

int simnet_nat_rebind_port(struct simnet *net, uint32_t node)
{
	struct nat *nat = nat_of(net, node);

	if (!nat)
		return -ENOENT;
	nat->n_map = 0;
	return 0;
}

int simnet_nat_change_address(struct simnet *net, uint32_t node,
			      const struct simnet_addr *new_public)
{
	struct nat *nat = nat_of(net, node);

	if (!nat)
		return -ENOENT;
	if (!simnet_addr_valid(new_public) || new_public->family != nat->pub.family)
		return -EINVAL;
	if (addr_taken(net, new_public))
		return -EEXIST;
	nat->pub = *new_public;
	nat->pub.port = 0;
	nat->n_map = 0;
	return 0;
}

int simnet_nat_set_idle_ms(struct simnet *net, uint32_t node, uint64_t idle_ms)
{
	struct nat *nat = nat_of(net, node);

	if (!nat)
		return -ENOENT;
	nat->idle_ms = idle_ms;
	return 0;
}

int simnet_nat_set_ports(struct simnet *net, uint32_t node, uint16_t first, uint16_t last)
{
	struct nat *nat = nat_of(net, node);

	if (!nat)
		return -ENOENT;
	if (first == 0 || last < first)
		return -EINVAL;
	nat->port_first = first;
	nat->port_last = last;
	nat->next_port = first;
	return 0;
}

int simnet_nat_mapping(const struct simnet *net, uint32_t node, const struct simnet_addr *priv,
		       uint64_t now_ms, struct simnet_addr *ret)
{
	const struct nat *nat = node < net->n_nodes ? &net->nodes[node].nat : NULL;

	if (!nat || !nat->on)
		return -ENOENT;
	for (size_t i = 0; i < nat->n_map; i++) {
		const struct mapping *m = &nat->map[i];

		if (simnet_addr_equal(&m->priv, priv, true) && mapping_live(nat, m, now_ms)) {
			*ret = nat->pub;
			ret->port = m->port;
			return 0;
		}
	}
	return -ENOENT;
}

/* The heap of datagrams in flight. */

static bool flight_before(const struct flight *a, const struct flight *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->id < b->id);
}

static int heap_reserve(struct simnet *net, size_t more)
{
	size_t cap = net->cap_heap;
	struct flight **heap;

	if (net->n_heap + more <= cap)
		return 0;
	while (cap < net->n_heap + more)
		cap = cap ? cap * 2 : 64;
	heap = realloc(net->heap, cap * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	net->heap = heap;
	net->cap_heap = cap;
	return 0;
}

static void heap_push(struct simnet *net, struct flight *f)
{
	size_t i = net->n_heap++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!flight_before(f, net->heap[parent]))
			break;
		net->heap[i] = net->heap[parent];
		i = parent;
	}
	net->heap[i] = f;
}

static struct flight *heap_pop(struct simnet *net)
{
	struct flight *top = net->heap[0], *last = net->heap[--net->n_heap];
	size_t i = 0, n = net->n_heap;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && flight_before(net->heap[c + 1], net->heap[c]))
			c++;
		if (!flight_before(net->heap[c], last))
			break;
		net->heap[i] = net->heap[c];
		i = c;
	}
	if (n > 0)
		net->heap[i] = last;
	return top;
}

uint64_t simnet_next_ms(const struct simnet *net)
{
	return net->n_heap ? net->heap[0]->at_ms : UINT64_MAX;
}

size_t simnet_in_flight(const struct simnet *net)
{
	return net->n_heap;
}

static void flight_free(struct flight *f)
{
	if (f) {
		free(f->buf);
		free(f);
	}
}

static struct flight *flight_new(const uint8_t *buf, size_t len)
{
	struct flight *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->buf = malloc(len ? len : 1);
	if (!f->buf) {
		free(f);
		return NULL;
	}
	if (len)
		memcpy(f->buf, buf, len);
	f->len = len;
	return f;
}

/* Sending and delivering. */

/* The node that has addr as one of its own addresses, -1 for none. */
static int sender_of(const struct simnet *net, const struct simnet_addr *addr)
{
	for (size_t i = 0; i < net->n_nodes; i++)
		for (size_t j = 0; j < net->nodes[i].n_addrs; j++)
			if (simnet_addr_equal(&net->nodes[i].addrs[j], addr, false))
				return (int)i;
	return -1;
}

/*
 * A link's draws for one datagram, always the same number whatever the configuration, so
 * changing one fault does not shift the draws of the others.
 */
struct fate {
	bool lost, dup;
	uint64_t delay_ms[2];	/* the datagram, its duplicate */
};

static struct fate draw_fate(struct link *l)
{
	const struct simnet_link_conf *c = &l->conf;
	struct fate fate;

	if (simr_chance(&l->rng, l->bad ? c->bad_to_good_ppm : c->good_to_bad_ppm, SIMNET_PPM))
		l->bad = !l->bad;
	fate.lost = simr_chance(&l->rng, l->bad ? c->loss_bad_ppm : c->loss_good_ppm, SIMNET_PPM);
	fate.dup = simr_chance(&l->rng, c->dup_ppm, SIMNET_PPM);
	for (size_t i = 0; i < 2; i++) {
		uint64_t jitter = simr_range(&l->rng, 0, c->jitter_ms);
		bool late = simr_chance(&l->rng, c->reorder_ppm, SIMNET_PPM);

		fate.delay_ms[i] = (uint64_t)c->delay_ms + jitter + (late ? c->reorder_ms : 0);
	}
	return fate;
}

int simnet_send(struct simnet *net, uint64_t now_ms, const struct simnet_addr *from,
		const struct simnet_addr *to, const uint8_t *buf, size_t len)
{
	struct flight *f[2] = { NULL, NULL };
	struct simnet_addr src;
	struct node *sender;
	struct link *l;
	struct fate fate;
	bool to_nat = false;
	int s, d, rc;

	if (!from || !to || (!buf && len))
		return -EINVAL;
	if (len > SIMNET_DGRAM_MAX)
		return -EMSGSIZE;
	if (from->family != to->family || !simnet_addr_valid(to))
		return -EINVAL;
	s = sender_of(net, from);
	if (s < 0)
		return -EADDRNOTAVAIL;
	sender = &net->nodes[s];
	src = *from;
	if (nat_applies(&sender->nat, from->family)) {
		struct mapping *m;

		rc = mapping_out(&sender->nat, from, now_ms, &m);
		if (rc < 0)
			return rc;
		m->used_ms = now_ms;
		src = sender->nat.pub;
		src.port = m->port;
	}
	d = route(net, to, &to_nat);
	if (d < 0) {
		net->unroutable++;
		event(net, SIMNET_EV_UNROUTABLE, now_ms, (uint32_t)s, SIMNET_ALL, &src, to, len,
		      net->next_id++);
		return 0;
	}
	l = link_of(net, (uint32_t)s, (uint32_t)d);
	fate = draw_fate(l);
	for (size_t i = 0; i < (fate.dup ? 2u : 1u); i++) {
		f[i] = flight_new(buf, len);
		if (!f[i])
			goto out_nomem;
		*f[i] = (struct flight){
			.at_ms = now_ms + fate.delay_ms[i], .from = (uint32_t)s, .to = (uint32_t)d,
			.src = src, .dst = *to, .to_nat = to_nat, .buf = f[i]->buf, .len = len,
		};
	}
	if (heap_reserve(net, 2) < 0)
		goto out_nomem;
	l->stats.sent++;
	f[0]->id = net->next_id++;
	event(net, SIMNET_EV_SENT, now_ms, (uint32_t)s, (uint32_t)d, &src, to, len, f[0]->id);
	if (l->cut || fate.lost) {
		if (l->cut)
			l->stats.cut++;
		else
			l->stats.lost++;
		event(net, l->cut ? SIMNET_EV_CUT : SIMNET_EV_LOST, now_ms, (uint32_t)s,
		      (uint32_t)d, &src, to, len, f[0]->id);
		flight_free(f[0]);
		flight_free(f[1]);
		return 0;
	}
	heap_push(net, f[0]);
	if (f[1]) {
		l->stats.duplicated++;
		f[1]->id = net->next_id++;
		event(net, SIMNET_EV_DUPLICATED, now_ms, (uint32_t)s, (uint32_t)d, &src, to, len,
		      f[1]->id);
		heap_push(net, f[1]);
	}
	return 0;
out_nomem:
	flight_free(f[0]);
	flight_free(f[1]);
	return -ENOMEM;
}

/* Where f ends at its arrival: the receiver's address and port, or a drop. */
static enum simnet_event_kind arrive(struct simnet *net, const struct flight *f,
				     struct simnet_addr *ret_dst)
{
	struct node *to = &net->nodes[f->to];
	struct mapping *m;

	if (link_of(net, f->from, f->to)->cut)
		return SIMNET_EV_CUT;
	*ret_dst = f->dst;
	if (!f->to_nat)
		/* An address that went behind a NAT since the send is no longer reachable. */
		return nat_applies(&to->nat, f->dst.family) ? SIMNET_EV_NAT_DROPPED :
							      SIMNET_EV_DELIVERED;
	if (!to->nat.on || !simnet_addr_equal(&to->nat.pub, &f->dst, false))
		return SIMNET_EV_NAT_DROPPED;	/* the public address moved */
	nat_expire(&to->nat, f->at_ms);
	m = mapping_by_port(&to->nat, f->dst.port);
	if (!m)
		return SIMNET_EV_NAT_DROPPED;
	m->used_ms = f->at_ms;
	*ret_dst = m->priv;
	return SIMNET_EV_DELIVERED;
}

int simnet_pop(struct simnet *net, uint64_t now_ms, struct simnet_dgram *ret)
{
	while (net->n_heap && net->heap[0]->at_ms <= now_ms) {
		struct flight *f = heap_pop(net);
		struct link *l = link_of(net, f->from, f->to);
		struct simnet_addr dst;
		enum simnet_event_kind kind = arrive(net, f, &dst);

		if (kind == SIMNET_EV_CUT)
			l->stats.cut++;
		else if (kind == SIMNET_EV_NAT_DROPPED)
			l->stats.nat_dropped++;
		else
			l->stats.delivered++;
		event(net, kind, f->at_ms, f->from, f->to, &f->src,
		      kind == SIMNET_EV_DELIVERED ? &dst : &f->dst, f->len, f->id);
		if (kind != SIMNET_EV_DELIVERED) {
			flight_free(f);
			continue;
		}
		*ret = (struct simnet_dgram){
			.at_ms = f->at_ms, .node = f->to, .from_node = f->from, .src = f->src,
			.dst = dst, .buf = f->buf, .len = f->len, .id = f->id,
		};
		free(f);
		return 1;
	}
	return 0;
}

void simnet_dgram_clear(struct simnet_dgram *d)
{
	if (!d)
		return;
	free(d->buf);
	*d = (struct simnet_dgram){ 0 };
}
