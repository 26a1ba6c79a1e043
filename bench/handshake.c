/*
 * The responder's cost of IKE handshakes: a load generator on lib/ike's initiator that drives
 * N IKE_SA_INIT + IKE_AUTH handshakes (PSK, one Child SA) at a responder, a window of them in
 * flight, each with its own identity: site-NNNNN.bench.example with key BASE-NNNNN, the sites
 * bench/handshake.sh gives the responder, taken in a shuffled order. Every IKE SA is kept:
 * nothing is deleted. It samples the responder's CPU time and resident memory between phases
 * (first 100, up to 1,000, the middle, the last 1,000), draining the window at each boundary
 * so that a phase holds only its own handshakes; then, with every SA kept and nothing sent, the
 * responder's CPU while idle (10 s by default). --segments K: K equal segments instead of the
 * phases, the responder's CPU per SA in each from /proc/PID/stat, and the flatness (the last
 * over the second). --one-psk: every site uses the base key itself (a responder with one PSK).
 * --storm: the reconnect storm of bench/storm.sh, every one of the N handshakes in flight at
 * once (window N), each site once; --wait-pid FIFO: set up, then wait for the responder's PID
 * on FIFO (the script writes it once the restarted responder answers) and start at once. It
 * prints the time from the first IKE_SA_INIT to the last IKE SA, the responder's and our CPU,
 * cookie rounds, retransmissions per handshake and the handshakes given up: a request
 * unanswered after TRIES transmissions, or anything still in flight --deadline seconds (120)
 * after the storm began. --spread MS: the N starts paced evenly over MS milliseconds instead
 * (sites that notice the restart at different moments).
 *
 *   handshake --responder ADDR --local ADDR --pid PID --psk-file FILE --group modp2048|x25519
 *             [--count N] [--sites S] [--window W] [--idle SECONDS] [--label NAME]
 *             [--results FILE] [--segments K] [--one-psk]
 *   handshake --storm ... [--wait-pid FIFO] [--deadline SECONDS]	(bench/storm.sh)
 *   handshake --summary FILE		the table of every run appended to FILE
 * Exit 0, 1 when handshakes failed, 2 usage, 3 when the responder exited during the run.
 *
 * Our own DH stays cheap so that it does not starve the responder: one fixed key pair for
 * every handshake, and for MODP a 64-bit private exponent (the responder's work does not
 * depend on the initiator's exponent). ike_init_start() always generates a fresh key, so the
 * IKE_SA_INIT request is built here, as lib/ike/sa_init.c builds it, around the fixed key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/dh.h"
#include "crypto/hash.h"
#include "ike/ike_auth.h"
#include "ike/proposal.h"
#include "ike/ts.h"
#include "proc.h"

#define ID_FORMAT	"site-%05u.bench.example"
#define NONCE_LEN	32
#define RTO_MS		2000	/* first retransmission; doubles (RFC 7296 §2.1) */
#define TRIES		5	/* transmissions of a request: gives up after 2+4+8+16+32 = 62 s */
#define RETX_CHECK_MS	10	/* how often the window is checked for due retransmissions */
#define MAX_RETX_HIST	3	/* retransmissions per handshake: 0, 1, 2, more */
#define MAX_PHASES	20
#define MAX_SITES	131072	/* networks 10.x.y.0/24, then 11.x.y.0/24 */

struct slot {
	bool busy;
	bool auth;			/* IKE_AUTH out (else IKE_SA_INIT) */
	unsigned idx;			/* the site: its identity, key and selectors */
	struct ike_init st;
	struct ike_child_cfg child;
	struct ike_writer msg;		/* the request out, for retransmission */
	struct secret psk;		/* the site's: the base key, '-' and its number */
	uint32_t spi_in;
	uint64_t sent_ms;
	unsigned tries;			/* retransmissions of the request out */
	unsigned retx;			/* retransmissions of the whole handshake, every request */
	unsigned spi_next;		/* the next slot in its SPI bucket, plus one (0: none) */
	bool hashed;			/* in the SPI table */
};

struct sample {
	double wall_s;
	double cpu_s;			/* the responder's CPU time, all its threads */
	double stat_s;			/* the same from /proc/PID/stat utime + stime (ticks) */
	double gen_cpu_s;		/* ours */
	double load1;			/* the machine's load average (1 min) */
	long rss_kib;			/* the responder's VmRSS */
	long anon_kib;			/* and its anonymous part (RssAnon) */
	unsigned est;			/* IKE SAs established so far */
};

static struct {
	int fd;
	struct sockaddr_in peer;
	struct ike_endpoint le, re;
	struct ike_pld_sa ike, esp;
	struct ike_init_cfg cfg;
	struct crypto_dh *dh;		/* ours, shared by every handshake */
	struct secret psk;		/* the base of every site's key */
	struct ike_pld_ts remote_ts;
	pid_t pid;
	clockid_t cpu_clock;
	unsigned started, est, with_child, no_child, failed, retransmits, cookies;
	unsigned given_up;		/* of the failed: a request unanswered TRIES times, or the deadline */
	unsigned retx_hist[MAX_RETX_HIST + 1], retx_max;	/* per established handshake */
	double *est_at_s;		/* storm: when each SA was established, from the first request */
	double t_first_s;		/* when the first request went out */
	double deadline_s;		/* 0: none; else in-flight handshakes are given up then */
	double spread_s;		/* storm: handshake k starts k / N of this after the first */
	uint64_t next_retx_ms;
	uint16_t no_child_notify;
	unsigned reported;
	bool responder_gone;
	double next_check_s;
	unsigned *order;		/* handshake k uses site order[k] */
	bool one_psk;			/* every site's key is the base key itself */
	unsigned n_sites;
	struct slot *slots;		/* the window */
	unsigned *spi_head;		/* SPI table: the first slot of each bucket, plus one */
	unsigned spi_bits;
	uint32_t esp_spi_base, esp_spi_seq;	/* the sites' inbound ESP SPIs (on_init_response) */
	unsigned window, inflight;
	uint8_t buf[IKE_MAX_MSG_LEN];
} b;

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_ms(void)
{
	return (uint64_t)(mono_s() * 1000);
}

static double clock_s(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts) < 0)
		return -1;
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* utime + stime of a stat file: a process's (every thread, live or gone) or one thread's. */
static double stat_file_cpu_s(const char *path)
{
	char line[2048], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	p = p ? strrchr(line, ')') : NULL;
	/* After "comm)": state is field 3, utime 14, stime 15. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double stat_cpu_s(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_file_cpu_s(path);
}

/* The same of the process's first thread alone (ikd's: the one that runs every exchange). */
static double stat_main_cpu_s(pid_t pid)
{
	char path[80];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)pid);
	return stat_file_cpu_s(path);
}

static double load1(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "re");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static void sample(struct sample *s)
{
	s->wall_s = mono_s();
	s->cpu_s = clock_s(b.cpu_clock);
	s->stat_s = stat_cpu_s(b.pid);
	s->load1 = load1();
	s->gen_cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	s->rss_kib = proc_rss_kib(b.pid);
	s->anon_kib = proc_anon_kib(b.pid);
	s->est = b.est;
}

/* ---- the DH bound: what the responder's own DH costs per handshake (as bench_dh) ---- */

static double dh_derive_us(const struct crypto_dh *a, const struct crypto_dh *peer, int n)
{
	const struct crypto_dh_group *g = crypto_dh_group_of(a);
	struct secret s = { 0 };
	double t0 = mono_s();

	for (int i = 0; i < n; i++) {
		if (crypto_dh_derive(a, crypto_dh_public(peer), g->pub_len, &s) < 0)
			return -1;
		secret_clear(&s);
	}
	return (mono_s() - t0) * 1e6 / n;
}

struct dh_bound {
	double keygen_us, derive_us;
	double full_exp_us;		/* MODP: one exponentiation with a full-length exponent */
};

static int dh_bound(uint16_t group, struct dh_bound *ret)
{
	const struct crypto_dh_group *g = crypto_dh_find(group);
	int n = g->kind == CRYPTO_DH_MODP ? 200 : 2000;
	struct crypto_dh *a, *peer, *full;
	double t0;

	memset(ret, 0, sizeof(*ret));
	if (crypto_dh_new(group, &peer) < 0)
		return -1;
	/* as the responder's DH workers make them (X25519's in batches) */
	t0 = mono_s();
	for (int i = 0; i < n; i += CRYPTO_DH_POOL_BATCH) {
		struct crypto_dh *batch[CRYPTO_DH_POOL_BATCH];

		if (crypto_dh_generate_n(group, CRYPTO_DH_POOL_BATCH, batch) < 0)
			return -1;
		for (int j = 0; j < CRYPTO_DH_POOL_BATCH; j++)
			crypto_dh_free(batch[j]);
	}
	ret->keygen_us = (mono_s() - t0) * 1e6 / n;
	if (crypto_dh_new(group, &a) < 0)
		return -1;
	ret->derive_us = dh_derive_us(a, peer, n);
	crypto_dh_free(a);
	if (g->kind == CRYPTO_DH_MODP) {
		/*
		 * strongSwan's default (charon.dh_exponent_ansi_x9_42 = yes) draws private
		 * exponents as long as the prime; lib/crypto keeps OpenSSL's short ones. A
		 * 2047-bit exponent through the same derive shows what one such exponentiation
		 * costs here (charon pays two: keygen and derive).
		 */
		uint8_t priv[1024];

		randombytes_buf(priv, g->pub_len);
		priv[0] = 0x7f;
		if (crypto_dh_new_from_private(group, priv, g->pub_len, &full) < 0)
			return -1;
		sodium_memzero(priv, sizeof(priv));
		ret->full_exp_us = dh_derive_us(full, peer, n / 4);
		crypto_dh_free(full);
	}
	crypto_dh_free(peer);
	return ret->derive_us < 0 || ret->full_exp_us < 0 ? -1 : 0;
}

/* ---- the initiator ---- */

static int fixed_key(uint16_t group, struct crypto_dh **ret)
{
	uint8_t priv[32];
	int rc;

	randombytes_buf(priv, sizeof(priv));
	if (crypto_dh_find(group)->kind == CRYPTO_DH_MODP) {
		priv[0] |= 0x80;	/* exactly 64 bits: cheap for us, valid for the peer */
		rc = crypto_dh_new_from_private(group, priv, 8, ret);
	} else if (crypto_dh_find(group)->kind == CRYPTO_DH_X25519) {
		rc = crypto_dh_new_from_private(group, priv, sizeof(priv), ret);
	} else {
		rc = crypto_dh_new(group, ret);
	}
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

static int add_notify(struct ike_builder *bld, uint16_t type, const uint8_t *data, size_t len)
{
	struct ike_pld_notify n = { .type = type, .data = data, .len = len };

	return IKE_BUILD_PAYLOAD(bld, IKE_PLD_NOTIFY, ike_pld_notify_encode(bld->w, &n));
}

/*
 * IKE_SA_INIT request with the shared key pair: HDR, SA, KE, Ni, N(NAT_DETECTION_*),
 * N(IKEV2_FRAGMENTATION_SUPPORTED), as sa_init.c's build_request() writes it. st->dh is
 * borrowed: slot_end() takes it back before ike_init_clear().
 */
static int init_request(struct slot *sl)
{
	static const uint8_t zero_spi[IKE_SPI_LEN];
	struct ike_init *st = &sl->st;
	struct ike_header h = { .major = IKE_VERSION_MAJOR, .exchange = IKE_EXCH_IKE_SA_INIT,
				.flags = IKE_FLAG_INITIATOR };
	uint8_t src[CRYPTO_NAT_HASH_LEN], dst[CRYPTO_NAT_HASH_LEN];
	struct ike_pld_ke ke;
	struct ike_pld_nonce nonce;
	struct ike_builder bld;
	int rc;

	memset(st, 0, sizeof(*st));
	st->initiator = true;
	do
		randombytes_buf(st->spi_i, IKE_SPI_LEN);
	while (sodium_is_zero(st->spi_i, IKE_SPI_LEN));
	st->nonce_i_len = NONCE_LEN;
	randombytes_buf(st->nonce_i, NONCE_LEN);
	st->group = b.cfg.dh_group;
	st->dh = b.dh;
	ke = (struct ike_pld_ke){ .group = st->group, .data = crypto_dh_public(b.dh),
				  .len = crypto_dh_group_of(b.dh)->pub_len };
	nonce = (struct ike_pld_nonce){ .data = st->nonce_i, .len = st->nonce_i_len };
	memcpy(h.spi_i, st->spi_i, IKE_SPI_LEN);
	sl->msg.len = 0;
	rc = crypto_nat_hash(st->spi_i, zero_spi, b.le.addr, b.le.addr_len, b.le.port, src);
	rc = rc ?: crypto_nat_hash(st->spi_i, zero_spi, b.re.addr, b.re.addr_len, b.re.port, dst);
	rc = rc ?: ike_build_begin(&bld, &sl->msg, &h);
	rc = rc ?: IKE_BUILD_PAYLOAD(&bld, IKE_PLD_SA, ike_pld_sa_encode(&sl->msg, &b.ike));
	rc = rc ?: IKE_BUILD_PAYLOAD(&bld, IKE_PLD_KE, ike_pld_ke_encode(&sl->msg, &ke));
	rc = rc ?: IKE_BUILD_PAYLOAD(&bld, IKE_PLD_NONCE, ike_pld_nonce_encode(&sl->msg, &nonce));
	rc = rc ?: add_notify(&bld, IKE_N_NAT_DETECTION_SOURCE_IP, src, sizeof(src));
	rc = rc ?: add_notify(&bld, IKE_N_NAT_DETECTION_DESTINATION_IP, dst, sizeof(dst));
	rc = rc ?: add_notify(&bld, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
	rc = rc ?: ike_build_finish(&bld);
	/* IKE_AUTH signs the request as sent (§2.15). */
	ike_writer_init(&st->msg_i, IKE_MAX_MSG_LEN);
	return rc ?: ike_writer_bytes(&st->msg_i, sl->msg.buf, sl->msg.len);
}

/* ---- the window's handshakes by their SPIi: a response finds its slot in O(1) ---- */

static int spi_table_init(unsigned window)
{
	b.spi_bits = 4;
	while ((1u << b.spi_bits) < 2 * window)
		b.spi_bits++;
	b.spi_head = calloc(1u << b.spi_bits, sizeof(*b.spi_head));
	return b.spi_head ? 0 : -ENOMEM;
}

static unsigned spi_bucket(const uint8_t *spi)
{
	uint64_t v;

	memcpy(&v, spi, sizeof(v));
	return (unsigned)((v * 0x9e3779b97f4a7c15ull) >> (64 - b.spi_bits));
}

static void spi_add(struct slot *sl)
{
	unsigned h = spi_bucket(sl->st.spi_i);

	sl->spi_next = b.spi_head[h];
	b.spi_head[h] = (unsigned)(sl - b.slots) + 1;
	sl->hashed = true;
}

static void spi_del(struct slot *sl)
{
	unsigned me = (unsigned)(sl - b.slots) + 1, *p;

	if (!sl->hashed)
		return;
	for (p = &b.spi_head[spi_bucket(sl->st.spi_i)]; *p && *p != me;
	     p = &b.slots[*p - 1].spi_next)
		;
	if (*p)
		*p = sl->spi_next;
	sl->hashed = false;
}

static struct slot *spi_find(const uint8_t *spi)
{
	for (unsigned i = b.spi_head[spi_bucket(spi)]; i; i = b.slots[i - 1].spi_next)
		if (!memcmp(b.slots[i - 1].st.spi_i, spi, IKE_SPI_LEN))
			return &b.slots[i - 1];
	return NULL;
}

static void send_msg(struct slot *sl)
{
	if (sendto(b.fd, sl->msg.buf, sl->msg.len, 0, (const struct sockaddr *)&b.peer,
		   sizeof(b.peer)) < 0)
		fprintf(stderr, "handshake: send: %s\n", strerror(errno));
	sl->sent_ms = now_ms();
}

static void slot_end(struct slot *sl)
{
	spi_del(sl);
	sl->st.dh = NULL;	/* the shared key stays */
	ike_init_clear(&sl->st);
	secret_clear(&sl->psk);
	sl->busy = false;
	b.inflight--;
}

static void slot_fail(struct slot *sl, const char *why)
{
	if (b.reported++ < 5)
		fprintf(stderr, "handshake: %u (" ID_FORMAT "): %s\n", sl->idx, sl->idx, why);
	b.failed++;
	slot_end(sl);
}

/*
 * Each site its own key, as bench/handshake.sh writes them: BASE-NNNNN; with --one-psk the
 * base key for every site (a responder holding one secret for any identity).
 */
static int psk_of(unsigned idx, struct secret *ret)
{
	char suffix[16];
	int n = b.one_psk ? 0 : snprintf(suffix, sizeof(suffix), "-%05u", idx);
	int rc = secret_alloc(ret, b.psk.len + (size_t)n);

	if (rc == 0) {
		memcpy(ret->p, b.psk.p, b.psk.len);
		memcpy(ret->p + b.psk.len, suffix, (size_t)n);
	}
	return rc;
}

static void slot_start(struct slot *sl, unsigned k)
{
	unsigned idx = b.order[k];
	uint8_t net[4] = { (uint8_t)(10 + (idx >> 16)), (uint8_t)(idx >> 8), (uint8_t)idx, 0 };

	sl->busy = true;
	sl->auth = false;
	sl->idx = idx;
	sl->tries = 0;
	sl->retx = 0;
	b.inflight++;
	b.started++;
	/* The site's own network (its local-ts in the store) to the gateway's side. */
	memset(&sl->child, 0, sizeof(sl->child));
	sl->child.proposals = &b.esp;
	sl->child.local.n = 1;
	ike_ts_from_prefix(&sl->child.local.ts[0], AF_INET, net, 24);
	sl->child.remote = b.remote_ts;
	if (psk_of(idx, &sl->psk) < 0 || init_request(sl) < 0) {
		slot_fail(sl, "cannot build IKE_SA_INIT");
		return;
	}
	spi_add(sl);
	if (!b.t_first_s)
		b.t_first_s = mono_s();
	send_msg(sl);
}

static void on_init_response(struct slot *sl, size_t len)
{
	char id[64];
	struct ike_pld_id idi = { .type = IKE_ID_FQDN, .data = (const uint8_t *)id };
	int rc = ike_init_on_response(&sl->st, &b.cfg, b.buf, len, &b.le, &b.re, &sl->msg);

	if (rc < 0)
		return;		/* not an answer to this request: keep waiting */
	if (rc == IKE_INIT_SEND) {
		/* A cookie round (we offer one group: never INVALID_KE_PAYLOAD's new key). */
		b.cookies++;
		sl->tries = 0;
		send_msg(sl);
		return;
	}
	if (rc != IKE_INIT_DONE) {
		slot_fail(sl, ike_notify_name(sl->st.notify));
		return;
	}
	idi.len = (size_t)snprintf(id, sizeof(id), ID_FORMAT, sl->idx);
	/*
	 * Its inbound ESP SPI. Every site here shares one address, and the responder's kernel
	 * keys its outbound SAs by address and SPI, so the SPIs of a run never repeat (random
	 * ones would: five times in 100,000 from 30 bits, each an install the kernel refuses
	 * with EEXIST, where real sites each have an address): a counter times an odd number
	 * is a permutation of the 30 bits, from a random start.
	 */
	sl->spi_in = 0xc0000000u | ((b.esp_spi_base + ++b.esp_spi_seq * 0x9e3779b1u) & 0x3fffffffu);
	rc = ike_auth_request(&sl->st, &idi, &sl->psk, false, &sl->child, sl->spi_in, &sl->msg);
	if (rc < 0) {
		slot_fail(sl, "cannot build IKE_AUTH");
		return;
	}
	sl->auth = true;
	sl->tries = 0;
	send_msg(sl);
}

static void on_auth_response(struct slot *sl, size_t len)
{
	struct ike_child c;
	uint16_t notify = 0;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = ike_auth_on_response(&sl->st, &sl->psk, &sl->child, sl->spi_in, NULL, b.buf, len, &c,
				  &notify);
	if (rc < 0)
		return;
	if (rc == IKE_AUTH_DONE || rc == IKE_AUTH_DONE_NO_CHILD) {
		if (b.est_at_s)
			b.est_at_s[b.est] = mono_s() - b.t_first_s;
		b.est++;
		b.retx_hist[sl->retx < MAX_RETX_HIST ? sl->retx : MAX_RETX_HIST]++;
		if (sl->retx > b.retx_max)
			b.retx_max = sl->retx;
		if (rc == IKE_AUTH_DONE) {
			b.with_child++;
		} else {
			b.no_child++;
			b.no_child_notify = notify;
		}
		ike_child_clear(&c);
		slot_end(sl);
		return;
	}
	slot_fail(sl, ike_notify_name(notify));
}

static void receive_all(void)
{
	for (;;) {
		ssize_t n = recv(b.fd, b.buf, sizeof(b.buf), MSG_DONTWAIT);
		struct ike_header h;
		struct slot *sl;

		if (n < 0)
			return;
		if (ike_header_decode(b.buf, (size_t)n, &h, NULL) < 0 ||
		    !(h.flags & IKE_FLAG_RESPONSE))
			continue;
		sl = spi_find(h.spi_i);
		if (!sl || !sl->busy)
			continue;
		if (!sl->auth && h.exchange == IKE_EXCH_IKE_SA_INIT)
			on_init_response(sl, (size_t)n);
		else if (sl->auth && h.exchange == IKE_EXCH_IKE_AUTH)
			on_auth_response(sl, (size_t)n);
	}
}

/*
 * Due retransmissions, every RETX_CHECK_MS (a window of 10,000 is not walked per packet). A
 * request unanswered TRIES times, or anything in flight at the deadline, is given up.
 */
static void retransmit(void)
{
	uint64_t now = now_ms();
	bool late = b.deadline_s > 0 && mono_s() >= b.deadline_s;

	if (now < b.next_retx_ms && !late)
		return;
	b.next_retx_ms = now + RETX_CHECK_MS;
	for (unsigned i = 0; i < b.window; i++) {
		struct slot *sl = &b.slots[i];

		if (!sl->busy)
			continue;
		if (late) {
			b.given_up++;
			slot_fail(sl, "still in flight at the deadline");
			continue;
		}
		if (now - sl->sent_ms < ((uint64_t)RTO_MS << sl->tries))
			continue;
		if (++sl->tries >= TRIES) {
			b.given_up++;
			slot_fail(sl, sl->auth ? "IKE_AUTH: no answer" : "IKE_SA_INIT: no answer");
			continue;
		}
		b.retransmits++;
		sl->retx++;
		send_msg(sl);
	}
}

/* Run handshakes up to number `upto`, then wait for every one of them to finish. */
static void run_until(unsigned upto)
{
	while ((b.started < upto || b.inflight) && !b.responder_gone) {
		struct pollfd p = { .fd = b.fd, .events = POLLIN };

		if (mono_s() >= b.next_check_s) {
			/* A process that exited (a zombie included) has no VmRSS. */
			b.responder_gone = proc_rss_kib(b.pid) < 0;
			b.next_check_s = mono_s() + 0.2;
		}

		for (unsigned i = 0; i < b.window && b.started < upto; i++) {
			/* --spread: the sites' starts paced evenly over the spread. */
			if (b.spread_s > 0 && b.started &&
			    mono_s() - b.t_first_s < b.spread_s * b.started / upto)
				break;
			if (!b.slots[i].busy)
				slot_start(&b.slots[i], b.started);
		}
		/* Pacing a spread storm needs a finer tick than retransmissions do. */
		if (poll(&p, 1, b.spread_s > 0 && b.started < upto ? 1 : 20) > 0)
			receive_all();
		retransmit();
	}
}

/* ---- output ---- */

static void print_phase(const char *name, const struct sample *a, const struct sample *z)
{
	unsigned n = z->est - a->est;
	double wall = z->wall_s - a->wall_s;

	if (!n) {
		printf("  %-12s %6u\n", name, n);
		return;
	}
	printf("  %-12s %6u %11.3f %11.0f %12.3f\n", name, n, (z->cpu_s - a->cpu_s) * 1e3 / n,
	       wall > 0 ? n / wall : 0, (z->gen_cpu_s - a->gen_cpu_s) * 1e3 / n);
}

static double per_sa_kib(const struct sample *a, const struct sample *z)
{
	return z->est > a->est ? (double)(z->rss_kib - a->rss_kib) / (z->est - a->est) : 0;
}

/* The same of its anonymous memory (RssAnon): without the program's pages touched. */
static double per_sa_anon_kib(const struct sample *a, const struct sample *z)
{
	return z->est > a->est ? (double)(z->anon_kib - a->anon_kib) / (z->est - a->est) : 0;
}

/* v with d decimals in buf (16 bytes), or "-" when the run has no such figure (v < 0). */
static const char *or_dash(double v, int d, char *buf)
{
	if (v < 0)
		return "-";
	snprintf(buf, 16, "%.*f", d, v);
	return buf;
}

static int summary(const char *path)
{
	char line[512], label[32], group[32], at1k[16], fullexp[16], idle_txt[16];
	FILE *f = fopen(path, "re");

	if (!f) {
		fprintf(stderr, "handshake: %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("%-11s %-8s %6s %4s %6s %7s %7s %7s %6s %7s %7s %5s %5s\n", "", "", "IKE", "",
	       "with", "CPU ms", "DH", "full-", "", "KiB/SA", "KiB/SA", "flat", "idle");
	printf("%-11s %-8s %6s %4s %6s %7s %7s %7s %6s %7s %7s %5s %5s\n", "", "group", "SAs",
	       "fail", "Child", "per SA", "bound", "exp", "hs/s", "at 1000", "at N", "", "%CPU");
	while (fgets(line, sizeof(line), f)) {
		unsigned n, est, failed, segments, child;
		double cpu, flat, rate, kib1k, kibn, bound, full, idle;

		if (sscanf(line, "%31s %31s %u %u %u %lf %lf %u %lf %lf %lf %lf %lf %lf %u", label,
			   group, &n, &est, &failed, &cpu, &flat, &segments, &rate, &kib1k, &kibn,
			   &bound, &full, &idle, &child) != 15)
			continue;
		printf("%-11s %-8s %6u %4u %6u %7.3f %7.3f %7s %6.0f %7s %7.2f %4.2f%s %5s\n",
		       label, group, est, failed, child, cpu, bound, or_dash(full, 3, fullexp), rate,
		       or_dash(kib1k, 1, at1k), kibn, flat, segments ? "s" : "p",
		       or_dash(idle, 1, idle_txt));
	}
	fclose(f);
	printf("CPU per SA: utime+stime over established SAs. DH bound: lib/crypto keygen + "
	       "derive, ms;\n  full-exp: the same with full-length MODP exponents, as strongSwan "
	       "draws them by default.\n  with Child: IKE_AUTH responses that carried the Child "
	       "SA (the rest refused it: NO_PROPOSAL_CHOSEN).\n  flat: CPU per SA of the last "
	       "segment (s) or phase (p) over the second's (the first is warm-up;\n  1.00 = "
	       "flat; goal <= 1.1). idle: the responder's CPU afterwards, every SA kept.\n");
	printf("Fairness: charon-1psk holds one PSK for any identity (as its load-tester does);"
	       " charon a PSK\n  per site, by identity, as ikd does. On a kernel without ESP the "
	       "Child SA cannot be installed:\n  charon then refuses it in its IKE_AUTH response "
	       "(NO_PROPOSAL_CHOSEN); ikd installs before it\n  answers and refuses it too (the "
	       "'with Child' column counts what each did). For MODP ikd checks\n  1 < y < p-1 "
	       "(RFC 6989 section 2.1, enough for these safe primes) and skips OpenSSL's own "
	       "peer\n  validation, a second exponentiation per handshake that charon pays "
	       "(bench_dh prints its cost).\n");
	printf("Goals (issue 18): CPU per IKE SA <= 0.6 ms at MODP-2048 and <= 0.10 ms with "
	       "Curve25519;\n  <= 1.5 KiB per IKE SA with its Child SA; flat <= 1.1.\n");
	return 0;
}

static int read_psk(const char *path)
{
	uint8_t buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	int rc;

	if (fd >= 0)
		close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	rc = n > 0 ? secret_set(&b.psk, buf, (size_t)n) : -EINVAL;
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

static int open_socket(const char *local, const char *remote)
{
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_port = htons(500) };
	int size = 16 << 20;

	b.peer = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(500) };
	if (inet_pton(AF_INET, local, &la.sin_addr) != 1 ||
	    inet_pton(AF_INET, remote, &b.peer.sin_addr) != 1)
		return -EINVAL;
	b.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (b.fd < 0)
		return -errno;
	/*
	 * Room for a storm's answers while we are still sending (root may pass rmem_max): the
	 * datagrams lost are then the responder's, not ours.
	 */
	if (setsockopt(b.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(b.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(b.fd, (const struct sockaddr *)&la, sizeof(la)) < 0)
		return -errno;
	b.le = (struct ike_endpoint){ .addr_len = 4, .port = 500 };
	b.re = b.le;
	memcpy(b.le.addr, &la.sin_addr, 4);
	memcpy(b.re.addr, &b.peer.sin_addr, 4);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: handshake --responder ADDR --local ADDR --pid PID --psk-file FILE\n"
		   "                 --group modp2048|x25519 [--count N] [--sites S] [--window W]\n"
		   "                 [--idle SECONDS] [--label NAME] [--results FILE]\n"
		   "                 [--segments K] [--one-psk]\n"
		   "       handshake --storm --responder ADDR --local ADDR --pid PID|--wait-pid FIFO\n"
		   "                 --psk-file FILE --group G [--count N] [--sites S]\n"
		   "                 [--deadline SECONDS] [--spread MS] [--label NAME]\n"
		   "                 [--results FILE]\n"
		   "       handshake --summary FILE\n");
}

/* The run's figures; marks[k] is the sample after bounds[k - 1] handshakes (marks[0]: before). */
struct run {
	const char *label, *group;
	unsigned n, bounds[MAX_PHASES], n_bounds;
	unsigned segments;		/* K equal segments instead of the four phases (0: phases) */
	struct sample marks[MAX_PHASES + 1];
	double stat0_s, stat1_s;	/* /proc/PID/stat utime + stime, before and after */
	double main0_s, main1_s;	/* the same of its first thread (task/PID/stat) */
	double wall0_s, wall1_s;
	struct dh_bound dh;
	unsigned idle_s;
	struct sample idle0, idle1;	/* afterwards: nothing sent, every SA kept */
};

static double idle_pct(const struct run *r)
{
	double wall = r->idle1.wall_s - r->idle0.wall_s;

	return wall > 0 ? (r->idle1.cpu_s - r->idle0.cpu_s) * 100 / wall : 0;
}

/*
 * The responder's CPU ms per SA in phase k: with segments from /proc/PID/stat (ticks: a
 * segment is thousands of SAs), else from its CPU clock (a phase may be 100 SAs).
 */
static double phase_cpu_ms(const struct run *r, unsigned k)
{
	const struct sample *a = &r->marks[k], *z = &r->marks[k + 1];
	unsigned n = z->est - a->est;

	if (!n)
		return 0;
	return (r->segments ? z->stat_s - a->stat_s : z->cpu_s - a->cpu_s) * 1e3 / n;
}

/* Flatness: CPU per SA of the last phase over the second's (the first is warm-up). */
static double flatness(const struct run *r)
{
	double second = r->n_bounds >= 3 ? phase_cpu_ms(r, 1) : 0;

	return second > 0 ? phase_cpu_ms(r, r->n_bounds - 1) / second : 0;
}

static void phase_name(const struct run *r, unsigned k, char *buf, size_t len)
{
	unsigned from = k ? r->bounds[k - 1] : 0, to = r->bounds[k];

	if (r->segments)
		snprintf(buf, len, "%u: %u-%u", k + 1, from, to);
	else if (k == 0 && to == 100)
		snprintf(buf, len, "first 100");
	else if (k == r->n_bounds - 1 && to - from == 1000 && from > 1000)
		snprintf(buf, len, "last 1000");
	else
		snprintf(buf, len, "%u-%u", from, to);
}

/* The per-SA memory at 1,000 SAs, or -1 when the run did not stop there. */
static double kib_at_1000(const struct run *r)
{
	for (unsigned k = 0; k < r->n_bounds; k++)
		if (r->bounds[k] == 1000)
			return per_sa_kib(&r->marks[0], &r->marks[k + 1]);
	return -1;
}

static double gen_ms(const struct sample *a, const struct sample *z)
{
	return z->est > a->est ? (z->gen_cpu_s - a->gen_cpu_s) * 1e3 / (z->est - a->est) : 0;
}

/* Ten segments (or K): CPU per SA from /proc/PID/stat in each, and the flatness beside its goal. */
static void print_segments(const struct run *r)
{
	const struct sample *m = r->marks;
	char name[32];

	printf("  %-16s %6s %10s %10s %7s %8s %8s %5s\n", "segment", "SAs", "CPU ms/SA",
	       "(clock)", "hs/s", "gen. ms", "KiB/SA", "load");
	for (unsigned k = 0; k < r->n_bounds; k++) {
		const struct sample *a = &m[k], *z = &m[k + 1];
		unsigned n = z->est - a->est;
		double wall = z->wall_s - a->wall_s;

		phase_name(r, k, name, sizeof(name));
		if (!n) {
			printf("  %-16s %6u\n", name, n);
			continue;
		}
		printf("  %-16s %6u %10.3f %10.3f %7.0f %8.3f %8.2f %5.2f\n", name, n,
		       phase_cpu_ms(r, k), (z->cpu_s - a->cpu_s) * 1e3 / n, wall > 0 ? n / wall : 0,
		       (z->gen_cpu_s - a->gen_cpu_s) * 1e3 / n, per_sa_kib(a, z), z->load1);
	}
	printf("  CPU ms/SA: the responder's utime+stime (/proc/%d/stat) over the segment's SAs;\n"
	       "    (clock): the same from its CPU clock; KiB/SA: its VmRSS growth over them;\n"
	       "    load: the machine's 1-minute load average at the segment's end\n", (int)b.pid);
	printf("  flatness: last segment / second segment = %.3f / %.3f = %.2f (goal <= 1.1;"
	       " the first is warm-up)\n", phase_cpu_ms(r, r->n_bounds - 1), phase_cpu_ms(r, 1),
	       flatness(r));
	/* Our work per handshake does not grow with the SAs held: what moves it is the machine. */
	if (gen_ms(&m[1], &m[2]) > 0)
		printf("    the same for the generator's own CPU: %.2f (what differs from 1.00 is"
		       " the machine's load)\n", gen_ms(&m[r->n_bounds - 1], &m[r->n_bounds]) /
		       gen_ms(&m[1], &m[2]));
}

static void print_run(const struct run *r)
{
	const struct sample *m = r->marks;
	double kib1k = kib_at_1000(r);
	char name[32];

	printf("%s, IKE aes256-sha256-%s, ESP aes256-sha256: %u handshakes, window %u\n",
	       r->label, r->group, r->n, b.window);
	printf("  established %u IKE SAs, failed %u (given up %u), retransmissions %u, cookie "
	       "rounds %u\n", b.est, b.failed, b.given_up, b.retransmits, b.cookies);
	printf("  retransmissions per established handshake: max %u; none %u, one %u, two %u, "
	       "more %u\n", b.retx_max, b.retx_hist[0], b.retx_hist[1], b.retx_hist[2],
	       b.retx_hist[MAX_RETX_HIST]);
	if (b.responder_gone) {
		printf("  the responder (pid %d) exited during the run: no figures\n", (int)b.pid);
		return;
	}
	printf("  IKE_AUTH responses with the Child SA: %u; with it refused: %u%s%s%s\n",
	       b.with_child, b.no_child, b.no_child ? " (" : "",
	       b.no_child ? ike_notify_name(b.no_child_notify) : "", b.no_child ? ")" : "");
	if (r->segments) {
		print_segments(r);
	} else {
		printf("  %-12s %6s %11s %12s %12s\n", "phase", "SAs", "CPU ms/SA", "handshakes/s",
		       "gen. ms/SA");
		for (unsigned k = 0; k < r->n_bounds; k++) {
			phase_name(r, k, name, sizeof(name));
			print_phase(name, &m[k], &m[k + 1]);
		}
		print_phase("all", &m[0], &m[r->n_bounds]);
		if (r->n_bounds >= 3)
			printf("  flatness: CPU per SA of the last phase / the second's (100-1000): "
			       "%.2f\n", flatness(r));
	}
	if (b.est)
		printf("  CPU per IKE SA, /proc/%d/stat utime+stime: %.3f ms (%.2f s, %u SAs)\n",
		       (int)b.pid, (r->stat1_s - r->stat0_s) * 1e3 / b.est, r->stat1_s - r->stat0_s,
		       b.est);
	if (b.est && r->main0_s >= 0 && r->main1_s >= 0 && r->wall1_s > r->wall0_s) {
		double all = r->stat1_s - r->stat0_s, main = r->main1_s - r->main0_s;
		double wall = r->wall1_s - r->wall0_s;

		printf("    of it the first thread (ikd's exchanges) %.3f ms, the others (ikd's DH "
		       "workers) %.3f ms; busy %.2f and %.2f CPUs\n", main * 1e3 / b.est,
		       (all - main) * 1e3 / b.est, main / wall, (all - main) / wall);
	}
	printf("  resident memory: %.1f MiB before; per SA", m[0].rss_kib / 1024.0);
	if (kib1k >= 0 && r->bounds[r->n_bounds - 1] != 1000)
		printf(" %.1f KiB at 1000 SAs,", kib1k);
	printf(" %.2f KiB at %u SAs (%.1f MiB after)\n", per_sa_kib(&m[0], &m[r->n_bounds]),
	       m[r->n_bounds].est, m[r->n_bounds].rss_kib / 1024.0);
	for (unsigned k = 0; k + 1 < r->n_bounds; k++)
		if (r->bounds[k] == 1000)
			printf("    from 1000 to %u SAs: %.1f KiB per SA\n", m[r->n_bounds].est,
			       per_sa_kib(&m[k + 1], &m[r->n_bounds]));
	printf("    anonymous (RssAnon, without the program's and libraries' pages): %.2f KiB "
	       "per SA at %u SAs\n", per_sa_anon_kib(&m[0], &m[r->n_bounds]),
	       m[r->n_bounds].est);
	if (r->idle_s)
		printf("  idle afterwards, %u SAs kept, %.0f s: %.1f%% of a CPU; resident memory "
		       "then %.2f KiB per SA\n", r->idle1.est, r->idle1.wall_s - r->idle0.wall_s,
		       idle_pct(r), per_sa_kib(&m[0], &r->idle1));
	printf("  DH bound (lib/crypto, here, now): keygen %.0f us + derive %.0f us = %.3f ms "
	       "per handshake", r->dh.keygen_us, r->dh.derive_us,
	       (r->dh.keygen_us + r->dh.derive_us) / 1e3);
	if (r->dh.full_exp_us > 0)
		printf(";\n    with full-length exponents (strongSwan's default) 2 x %.0f us = "
		       "%.3f ms", r->dh.full_exp_us, 2 * r->dh.full_exp_us / 1e3);
	printf("\n");
}

/* One line per run for --summary. */
static void write_results(const struct run *r, const char *path)
{
	const struct sample *m = r->marks;
	double wall = m[r->n_bounds].wall_s - m[0].wall_s;
	FILE *f;

	if (!b.est || !(f = fopen(path, "ae")))
		return;
	fprintf(f, "%s %s %u %u %u %.4f %.4f %u %.1f %.2f %.2f %.4f %.4f %.2f %u\n", r->label,
		r->group, r->n, b.est, b.failed, (r->stat1_s - r->stat0_s) * 1e3 / b.est,
		flatness(r), r->segments, wall > 0 ? b.est / wall : 0, kib_at_1000(r), per_sa_kib(&m[0], &m[r->n_bounds]),
		(r->dh.keygen_us + r->dh.derive_us) / 1e3,
		r->dh.full_exp_us > 0 ? 2 * r->dh.full_exp_us / 1e3 : -1,
		r->idle_s ? idle_pct(r) : -1, b.with_child);
	fclose(f);
}

/* Sites in a fixed shuffled order: a site's place in the responder's list is not its turn. */
static int shuffle_sites(unsigned n_sites)
{
	b.order = calloc(n_sites, sizeof(*b.order));
	if (!b.order)
		return -ENOMEM;
	for (unsigned i = 0; i < n_sites; i++)
		b.order[i] = i;
	for (unsigned i = n_sites - 1; i > 0; i--) {
		unsigned j = randombytes_uniform(i + 1), t = b.order[i];

		b.order[i] = b.order[j];
		b.order[j] = t;
	}
	return 0;
}

static void run(struct run *r)
{
	unsigned want[4] = { 100, 1000, r->n > 2000 ? r->n - 1000 : 0, r->n };

	/* Phases end at 100, 1,000, N - 1,000 and N handshakes; or K equal segments. */
	if (r->segments) {
		for (unsigned k = 1; k <= r->segments; k++)
			r->bounds[r->n_bounds++] = (unsigned)((uint64_t)r->n * k / r->segments);
	} else {
		for (unsigned k = 0; k < 4; k++)
			if (want[k] > 0 && want[k] <= r->n &&
			    (!r->n_bounds || want[k] > r->bounds[r->n_bounds - 1]))
				r->bounds[r->n_bounds++] = want[k];
	}
	r->stat0_s = stat_cpu_s(b.pid);
	r->main0_s = stat_main_cpu_s(b.pid);
	r->wall0_s = mono_s();
	sample(&r->marks[0]);
	for (unsigned k = 0; k < r->n_bounds; k++) {
		run_until(r->bounds[k]);
		sample(&r->marks[k + 1]);
	}
	r->stat1_s = stat_cpu_s(b.pid);
	r->main1_s = stat_main_cpu_s(b.pid);
	r->wall1_s = mono_s();
	/* What the SAs cost while nothing happens: timers, housekeeping. */
	sample(&r->idle0);
	while (!b.responder_gone && mono_s() - r->idle0.wall_s < r->idle_s) {
		struct pollfd p = { .fd = b.fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			while (recv(b.fd, b.buf, sizeof(b.buf), MSG_DONTWAIT) >= 0)
				;
		b.responder_gone = proc_rss_kib(b.pid) < 0;
	}
	sample(&r->idle1);
}

/* ---- the reconnect storm (--storm): every site at once, after the responder restarted ---- */

/* Issue 18's goals for the time until every site is up again, on the 2-CPU build host. */
static double storm_goal_s(const char *group)
{
	return strcmp(group, "x25519") == 0 ? 6 : strcmp(group, "modp2048") == 0 ? 15 : -1;
}

/* When k of the N handshakes had been established, from the first request; -1: never. */
static double storm_at(const struct run *r, double share)
{
	unsigned k = (unsigned)(share * r->n + 0.999999);

	if (k < 1)
		k = 1;
	return k <= b.est ? b.est_at_s[k - 1] : -1;
}

/* storm_at() as text in buf (16 bytes): "never" when that share never came back. */
static const char *storm_at_str(const struct run *r, double share, char *buf)
{
	double v = storm_at(r, share);

	if (v < 0)
		return "never";
	snprintf(buf, 16, "%.2f s", v);
	return buf;
}

/* The responder's PID from FILE (a FIFO the script writes once the restarted POP answers). */
static pid_t wait_pid(const char *path)
{
	char line[32] = "";
	FILE *f = fopen(path, "re");
	long v = 0;

	if (f) {
		if (fgets(line, sizeof(line), f))
			v = strtol(line, NULL, 10);
		fclose(f);
	}
	return v > 0 ? (pid_t)v : -1;
}

static void storm_run(struct run *r)
{
	sample(&r->marks[0]);
	r->stat0_s = r->marks[0].stat_s;
	run_until(r->n);
	sample(&r->marks[1]);
	r->stat1_s = r->marks[1].stat_s;
	r->n_bounds = 1;
	r->bounds[0] = r->n;
}

static void print_storm(const struct run *r)
{
	const struct sample *a = &r->marks[0], *z = &r->marks[1];
	double goal = storm_goal_s(r->group), last = b.est ? b.est_at_s[b.est - 1] : -1;
	double cpu = z->stat_s - a->stat_s, dh_ms = (r->dh.keygen_us + r->dh.derive_us) / 1e3;
	char t1[16], t2[16], t3[16];
	unsigned step;

	printf("%s, IKE aes256-sha256-%s: %u sites reconnect ", r->label, r->group, r->n);
	if (b.spread_s > 0)
		printf("spread evenly over %.2f s\n", b.spread_s);
	else
		printf("at once (%u in flight)\n", b.window);
	printf("  established %u of %u IKE SAs; given up %u (goal 0); refused %u\n", b.est, r->n,
	       b.given_up, b.failed - b.given_up);
	printf("    given up: a request unanswered after %d transmissions (RFC 7296 section 2.1 "
	       "timeouts\n    from %d s, doubling: %d s), or still in flight %.0f s after the "
	       "first request\n", TRIES, RTO_MS / 1000, RTO_MS / 1000 * ((1 << TRIES) - 1),
	       b.deadline_s > 0 ? b.deadline_s - b.t_first_s : 0.0);
	if (b.responder_gone) {
		printf("  the responder (pid %d) exited during the storm: no figures\n", (int)b.pid);
		return;
	}
	printf("  IKE_AUTH responses with the Child SA: %u; with it refused: %u%s%s%s\n",
	       b.with_child, b.no_child, b.no_child ? " (" : "",
	       b.no_child ? ike_notify_name(b.no_child_notify) : "", b.no_child ? ")" : "");
	if (last >= 0) {
		printf("  time from the first IKE_SA_INIT to the last IKE SA established: %.2f s",
		       last);
		if (goal > 0)
			printf(" (goal <= %.0f s)", goal);
		printf("%s\n", b.est < r->n ? ", not every site" : "");
		printf("    half of them after %s, 90%% %s, 99%% %s\n", storm_at_str(r, 0.5, t1),
		       storm_at_str(r, 0.9, t2), storm_at_str(r, 0.99, t3));
		/* Established by each second (or each few): the retransmission waves show. */
		step = (unsigned)(last / 20) + 1;
		printf("    established by (s):");
		for (unsigned t = step, k = 0; ; t += step) {
			while (k < b.est && b.est_at_s[k] <= t)
				k++;
			printf(" %u: %u%s", t, k, k == b.est ? "\n" : "");
			if (k == b.est)
				break;
		}
	}
	printf("  the responder's CPU from the first request to the end (/proc/%d/stat utime+stime):"
	       "\n    %.2f s, %.3f ms per SA established; its CPU clock: %.3f s\n", (int)b.pid, cpu,
	       b.est ? cpu * 1e3 / b.est : 0, z->cpu_s - a->cpu_s);
	printf("  the generator's own CPU: %.2f s (%.3f ms per SA)\n", z->gen_cpu_s - a->gen_cpu_s,
	       b.est ? (z->gen_cpu_s - a->gen_cpu_s) * 1e3 / b.est : 0);
	printf("  cookie rounds (COOKIE answers to IKE_SA_INIT): %u\n", b.cookies);
	printf("  retransmissions: %u in all; per established handshake (every request of it): "
	       "max %u (goal <= 2);\n    none %u, one %u, two %u, more %u\n", b.retransmits,
	       b.retx_max, b.retx_hist[0], b.retx_hist[1], b.retx_hist[2],
	       b.retx_hist[MAX_RETX_HIST]);
	printf("  load average (1 min) at the start %.2f, at the end %.2f\n", a->load1, z->load1);
	printf("  DH bound (lib/crypto keygen + derive, here, after the storm): %.3f ms per "
	       "handshake,\n    %.2f s for %u: the least the responder's DH can take\n", dh_ms,
	       dh_ms * r->n / 1e3, r->n);
}

/* One line per storm for bench/storm.sh's summary. */
static void write_storm(const struct run *r, const char *path)
{
	const struct sample *a = &r->marks[0], *z = &r->marks[1];
	FILE *f = fopen(path, "ae");

	if (!f)
		return;
	fprintf(f, "%s %u %u %u %u %.3f %.3f %.3f %.3f %.3f %.3f %u %u %u %u %u %u %u %.2f %.2f "
		"%u %.4f\n", r->group, r->n, b.est, b.given_up, b.failed - b.given_up,
		b.est ? b.est_at_s[b.est - 1] : -1, storm_at(r, 0.5), storm_at(r, 0.9),
		storm_at(r, 0.99), z->stat_s - a->stat_s, z->gen_cpu_s - a->gen_cpu_s, b.cookies,
		b.retransmits, b.retx_max, b.retx_hist[0], b.retx_hist[1], b.retx_hist[2],
		b.retx_hist[MAX_RETX_HIST], a->load1, z->load1, b.with_child,
		(r->dh.keygen_us + r->dh.derive_us) / 1e3);
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "responder", required_argument, NULL, 'r' },
		{ "local", required_argument, NULL, 'l' },
		{ "pid", required_argument, NULL, 'p' },
		{ "psk-file", required_argument, NULL, 'k' },
		{ "group", required_argument, NULL, 'g' },
		{ "count", required_argument, NULL, 'n' },
		{ "sites", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "idle", required_argument, NULL, 'i' },
		{ "label", required_argument, NULL, 'L' },
		{ "results", required_argument, NULL, 'R' },
		{ "summary", required_argument, NULL, 'S' },
		{ "segments", required_argument, NULL, 'K' },
		{ "one-psk", no_argument, NULL, '1' },
		{ "storm", no_argument, NULL, 'T' },
		{ "wait-pid", required_argument, NULL, 'W' },
		{ "deadline", required_argument, NULL, 'D' },
		{ "spread", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *responder = NULL, *local = NULL, *psk_file = NULL, *results = NULL, *bad;
	const char *pid_fifo = NULL;
	struct run r = { .label = "responder", .group = "modp2048", .n = 10000, .idle_s = 10 };
	bool storm = false;
	double deadline_s = 120;
	char props[64];
	int c, rc;

	b.window = 64;
	b.n_sites = 10000;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': responder = optarg; break;
		case 'l': local = optarg; break;
		case 'p': b.pid = (pid_t)atoi(optarg); break;
		case 'k': psk_file = optarg; break;
		case 'g': r.group = optarg; break;
		case 'n': r.n = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': b.n_sites = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': b.window = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'i': r.idle_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'L': r.label = optarg; break;
		case 'R': results = optarg; break;
		case 'S': return summary(optarg);
		case 'K': r.segments = (unsigned)strtoul(optarg, NULL, 10); break;
		case '1': b.one_psk = true; break;
		case 'T': storm = true; break;
		case 'W': pid_fifo = optarg; break;
		case 'D': deadline_s = strtod(optarg, NULL); break;
		case 'P': b.spread_s = strtod(optarg, NULL) / 1e3; break;
		default: usage(stderr); return 2;
		}
	}
	/* A storm: every handshake in flight at once, each site once. */
	if (storm)
		b.window = r.n;
	/* Networks 10.x.y.0/24, then 11.x.y.0/24: MAX_SITES. */
	if (!responder || !local || !psk_file || (b.pid <= 0 && !pid_fifo) || r.n == 0 ||
	    b.n_sites > MAX_SITES || r.n > b.n_sites || b.window == 0 || b.window > MAX_SITES ||
	    r.segments == 1 || r.segments > MAX_PHASES || r.n < 10 * r.segments ||
	    (storm && (r.segments || !(deadline_s > 0))) || (!storm && b.spread_s != 0) ||
	    !(b.spread_s >= 0)) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0 || read_psk(psk_file) < 0) {
		fprintf(stderr, "handshake: cannot read the PSK file %s\n", psk_file);
		return 1;
	}
	b.esp_spi_base = randombytes_random();
	snprintf(props, sizeof(props), "aes256-sha256-%s", r.group);
	if (ike_proposals_parse(props, IKE_PROTO_IKE, &b.ike, &bad) < 0 ||
	    ike_proposals_parse("aes256-sha256", IKE_PROTO_ESP, &b.esp, &bad) < 0) {
		fprintf(stderr, "handshake: group '%s': %s\n", r.group, bad);
		return 2;
	}
	b.cfg = (struct ike_init_cfg){ .proposals = &b.ike, .dh_group = ike_proposals_group(&b.ike),
				       .fragmentation = true };
	b.remote_ts.n = 1;
	ike_ts_from_prefix(&b.remote_ts.ts[0], AF_INET, (const uint8_t[]){ 172, 16, 0, 0 }, 12);
	rc = open_socket(local, responder);
	if (rc < 0) {
		fprintf(stderr, "handshake: socket %s:500: %s\n", local, strerror(-rc));
		return 1;
	}
	b.slots = calloc(b.window, sizeof(*b.slots));
	b.est_at_s = storm ? calloc(r.n, sizeof(*b.est_at_s)) : NULL;
	/* A storm measures the responder's DH bound afterwards: not while it starts. */
	if (!b.slots || (storm && !b.est_at_s) || spi_table_init(b.window) < 0 ||
	    shuffle_sites(b.n_sites) < 0 || fixed_key(b.cfg.dh_group, &b.dh) < 0 ||
	    (!storm && dh_bound(b.cfg.dh_group, &r.dh) < 0)) {
		fprintf(stderr, "handshake: cannot set up the %s handshakes\n", r.group);
		return 1;
	}
	for (unsigned i = 0; i < b.window; i++)
		ike_writer_init(&b.slots[i].msg, IKE_MAX_MSG_LEN);
	/* Ready: a storm waits here for the restarted responder to answer its control socket. */
	if (pid_fifo && (b.pid = wait_pid(pid_fifo)) <= 0) {
		fprintf(stderr, "handshake: no responder PID from %s\n", pid_fifo);
		return 1;
	}
	if (clock_getcpuclockid(b.pid, &b.cpu_clock) != 0 || clock_s(b.cpu_clock) < 0 ||
	    proc_rss_kib(b.pid) < 0) {
		fprintf(stderr, "handshake: cannot read process %d's CPU time and memory\n",
			(int)b.pid);
		return 1;
	}
	if (storm) {
		b.deadline_s = mono_s() + deadline_s;
		storm_run(&r);
		if (dh_bound(b.cfg.dh_group, &r.dh) < 0)
			memset(&r.dh, 0, sizeof(r.dh));
		print_storm(&r);
		if (results && !b.responder_gone)
			write_storm(&r, results);
	} else {
		run(&r);
		print_run(&r);
		if (results && !b.responder_gone)
			write_results(&r, results);
	}
	for (unsigned i = 0; i < b.window; i++) {
		if (b.slots[i].busy)
			slot_end(&b.slots[i]);
		ike_writer_clear(&b.slots[i].msg);
	}
	crypto_dh_free(b.dh);
	secret_clear(&b.psk);
	free(b.slots);
	free(b.spi_head);
	free(b.est_at_s);
	free(b.order);
	close(b.fd);
	return b.responder_gone ? 3 : b.failed || b.est < r.n ? 1 : 0;
}
