/* ikd: the IKEv2 keying daemon (ikd(8)). Start-up, sockets, signals; tunnel.c does IKE. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <sched.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "crypto/dh.h"
#include "crypto/random.h"
#include "glue.h"
#include "log.h"
#include "notify.h"
#include "site/store.h"

#define RXBUF_LEN 65536
/* costly_fire()'s share of the loop before it looks at the sockets again */
#define COSTLY_SLICE_MS 2

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ikd [-hVdt] [-c CONFIG]\n"
		"\n"
		"  -c, --config PATH  daemon settings (default " CONF_DEFAULT_PATH ")\n"
		"  -d, --debug        log at debug level\n"
		"  -t, --check        check the configuration and the store, then exit\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"ikd negotiates IKEv2 SAs with remote gateways and installs the Child SAs\n"
		"into the kernel's XFRM framework. See ikd(8) and ikd.conf(5).\n");
}

/* How long a stopping ikd waits for the answers to its Deletes */
#define STOP_WAIT_MS	3000
#define DH_POOL_DEPTH 32	/* key pairs made ahead of each group in demand */

static uint64_t watchdog_ms, stop_until_ms;
static char last_status[160];

/* STATUS= for systemctl status: "N sites up, M down", sent when it changes. */
static void status_fire(struct timer *t)
{
	struct ikd *d = &timer_owner(t, struct ikd_daemon, t_status)->core;
	size_t up, down, disabled;
	char msg[160];

	ikd_status_counts(d, &up, &down, &disabled);
	snprintf(msg, sizeof(msg), "STATUS=%s: %zu sites up, %zu down%s",
		 d->conf.role == CONF_ROLE_INITIATOR ? "initiator" : "responder", up, down,
		 health_accepting(&daemon_of(d)->health) ? "" :
		 "; not accepting new tunnels (downstream check failing)");
	if (strcmp(msg, last_status)) {
		notify_send(msg);
		snprintf(last_status, sizeof(last_status), "%s", msg);
	}
	timer_arm(&daemon_of(d)->loop.timers, t, timer_now_ms() + 5000);
}

/* The downstream check changed its verdict (logged already): monitor and STATUS= now. */
static void health_changed(struct health *h, void *arg)
{
	struct ikd *d = arg;
	bool ok = health_accepting(h);

	ikd_event(d, "", "", ok ? "accepting" : "not-accepting", "%s",
		  ok ? "accepting new tunnels again" :
		  "downstream check failed: not accepting new tunnels");
	if (timer_armed(&daemon_of(d)->t_status))
		timer_arm(&daemon_of(d)->loop.timers, &daemon_of(d)->t_status, timer_now_ms());
}

static void watchdog_fire(struct timer *t)
{
	struct ikd *d = &timer_owner(t, struct ikd_daemon, t_watchdog)->core;

	notify_send("WATCHDOG=1");
	timer_arm(&daemon_of(d)->loop.timers, t, timer_now_ms() + watchdog_ms);
}

/*
 * The new IKE SAs' IKE_SA_INITs that waited (on_sock): a few at a time, each a DH, and back to
 * the loop in between, so that what arrives meanwhile (IKE_AUTH, the established SAs'
 * requests) is read and answered before the next ones.
 */
static void costly_fire(struct timer *t)
{
	struct ikd_daemon *dm = timer_owner(t, struct ikd_daemon, costly_timer);
	struct ikd *d = &dm->core;
	uint64_t until = timer_now_ms() + COSTLY_SLICE_MS;
	struct rxq_item *it;

	while ((it = rxq_pop(&dm->costly))) {
		d->half_open_waiting = dm->costly.n;
		ikd_receive(d, it->sock, it->buf, it->len, &it->dg);
		free(it);
		if (timer_now_ms() >= until)
			break;
	}
	if (dm->costly.n)
		timer_arm(&dm->loop.timers, &dm->costly_timer, timer_now_ms());
}

static void on_sock(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ikd *d = f->arg;
	struct ikd_daemon *dm = daemon_of(d);
	struct net_sock *s = &d->socks[f - dm->sock_fds];

	(void)l;
	(void)events;
	for (int i = 0; i < 256; i++) {
		struct net_dgram dg;
		ssize_t n = net_recv(s, dm->rxbuf, RXBUF_LEN, &dg);
		int rc;

		if (n == -EAGAIN)
			return;
		if (n < 0) {
			if (n != -EBADMSG)
				log_debug("receive on port %u: %s", s->port, strerror((int)-n));
			continue;
		}
		if (!ikd_receive_costly(d, dm->rxbuf, (size_t)n, &dg)) {
			ikd_receive(d, s, dm->rxbuf, (size_t)n, &dg);
			continue;
		}
		/* A new IKE SA's DH: after what is already waiting and what is cheaper. */
		rc = rxq_push(&dm->costly, s, dm->rxbuf, (size_t)n, &dg);
		d->half_open_waiting = dm->costly.n;
		if (rc == 0) {
			if (!timer_armed(&dm->costly_timer))
				timer_arm(&dm->loop.timers, &dm->costly_timer, timer_now_ms());
		} else {
			/* as if the socket's buffer were full: the peer sends it again */
			d->stats.dropped++;
			log_debug("IKE_SA_INIT on port %u dropped: %zu new IKE SAs wait already (%s)",
				  s->port, dm->costly.n, strerror(-rc));
		}
	}
}

/* The DH workers made keys for IKE_SA_INITs answered: the IKE_AUTHs waiting for them go on. */
static void jobs_done(struct ikd *d)
{
	for (struct crypto_work *w = crypto_dh_pool_done(), *next; w; w = next) {
		next = w->next;
		ikd_job_done(d, (struct ike_init_job *)((char *)w -
						       offsetof(struct ike_init_job, work)));
	}
}

static void on_jobs(struct loop *l, struct loop_fd *f, uint32_t events)
{
	(void)l;
	(void)events;
	jobs_done(f->arg);
}

static void on_kernel(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ikd *d = f->arg;
	int rc;

	(void)l;
	(void)events;
	rc = xfrm_events_read(&daemon_of(d)->ev, ikd_kernel_event, d);
	if (rc == -ENOBUFS)
		log_warn("kernel events were lost (socket buffer overrun)");
}

static void reload(struct ikd *d)
{
	struct ikd_conf c;
	char err[512];

	conf_defaults(&c);
	if (conf_load(&c, daemon_of(d)->conf_path, err, sizeof(err)) < 0) {
		log_err("reload refused, the running settings stay: %s", err);
		return;
	}
	if (c.role != d->conf.role || c.ike_port != d->conf.ike_port ||
	    c.natt_port != d->conf.natt_port || strcmp(c.socket, d->conf.socket) ||
	    strcmp(c.store, d->conf.store) || c.n_listen != d->conf.n_listen)
		log_warn("reload: role, ports, listen addresses, store and socket paths take "
			 "effect at the next start");
	c.role = d->conf.role;
	c.ike_port = d->conf.ike_port;
	c.natt_port = d->conf.natt_port;
	memcpy(c.listen, d->conf.listen, sizeof(c.listen));
	c.n_listen = d->conf.n_listen;
	memcpy(c.store, d->conf.store, sizeof(c.store));
	memcpy(c.socket, d->conf.socket, sizeof(c.socket));
	d->conf = c;
	log_setup(c.log_level);
	health_configure(&daemon_of(d)->health, &d->conf);
	log_notice("reloaded %s; established tunnels kept", daemon_of(d)->conf_path);
}

/*
 * Stopping: the Deletes are out (or wait for the request out on their IKE SA); once each is
 * answered, or after STOP_WAIT_MS, what is left goes, SAs and policies with it.
 */
static void stop_fire(struct timer *t)
{
	struct ikd *d = &timer_owner(t, struct ikd_daemon, t_stop)->core;

	if (d->n_tunnels && timer_now_ms() < stop_until_ms) {
		timer_arm(&daemon_of(d)->loop.timers, t, timer_now_ms() + 10);
		return;
	}
	if (d->n_tunnels)
		log_info("stopping: %zu IKE SA Deletes not answered within %u ms", d->n_tunnels,
			 STOP_WAIT_MS);
	ikd_shutdown_tunnels(d);
	loop_stop(&daemon_of(d)->loop, 0);
}

static void on_signal(struct loop *l, struct loop_fd *f, uint32_t events)
{
	struct ikd *d = f->arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(f->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			notify_send("RELOADING=1");
			reload(d);
			notify_send("READY=1");
		} else if (d->stopping) {
			/* asked again: no more waiting */
			timer_cancel(&daemon_of(d)->loop.timers, &daemon_of(d)->t_stop);
			ikd_shutdown_tunnels(d);
			loop_stop(l, 0);
			return;
		} else {
			notify_send("STOPPING=1");
			log_notice("signal %s: deleting the SAs and stopping",
				   si.ssi_signo == SIGTERM ? "TERM" : "INT");
			ikd_stop_begin(d);
			stop_until_ms = timer_now_ms() + STOP_WAIT_MS;
			timer_init(&daemon_of(d)->t_stop, stop_fire);
			timer_arm(&daemon_of(d)->loop.timers, &daemon_of(d)->t_stop, timer_now_ms());
		}
	}
}

static int open_sockets(struct ikd *d)
{
	static const int families[] = { AF_INET, AF_INET6 };
	size_t opened = 0;

	for (size_t i = 0; i < 4; i++)
		d->socks[i].fd = -1;
	for (size_t f = 0; f < 2; f++) {
		union net_addr bind_addr, *ba = NULL;

		for (size_t j = 0; j < d->conf.n_listen; j++)
			if (net_addr_parse(d->conf.listen[j], 0, &bind_addr) == 0 &&
			    bind_addr.sa.sa_family == families[f])
				ba = &bind_addr;
		if (d->conf.n_listen && !ba)
			continue;
		for (size_t natt = 0; natt < 2; natt++) {
			size_t k = f * 2 + natt;
			uint16_t port = natt ? d->conf.natt_port : d->conf.ike_port;
			int rc = net_sock_open(&d->socks[k], families[f], ba, port, natt,
					       (int)d->conf.receive_buffer);

			if (rc < 0) {
				d->socks[k].fd = -1;
				/* A host without IPv6 runs on IPv4 alone. */
				if (families[f] == AF_INET6 && (rc == -EAFNOSUPPORT ||
								rc == -EADDRNOTAVAIL))
					continue;
				log_err("cannot open the IKE socket on port %u (%s): %s", port,
					families[f] == AF_INET ? "IPv4" : "IPv6", strerror(-rc));
				return rc;
			}
			if (net_sock_rcvbuf(&d->socks[k]) < (int)d->conf.receive_buffer)
				log_warn("IKE socket on port %u (%s): a receive buffer of %d bytes, "
					 "not the %u of receive-buffer (net.core.rmem_max caps it "
					 "without CAP_NET_ADMIN)", port, families[f] == AF_INET ?
					 "IPv4" : "IPv6", net_sock_rcvbuf(&d->socks[k]),
					 d->conf.receive_buffer);
			rc = loop_add(&daemon_of(d)->loop, &daemon_of(d)->sock_fds[k], d->socks[k].fd, EPOLLIN, on_sock, d);
			if (rc < 0)
				return rc;
			opened++;
		}
	}
	return opened ? 0 : -EADDRNOTAVAIL;
}

/*
 * Keep only CAP_NET_ADMIN (XFRM) and CAP_NET_BIND_SERVICE, in every set and the bounding
 * set, and forbid regaining anything (no-new-privileges).
 */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	uint32_t keep = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_BIND_SERVICE);

	for (int cap = 0; cap <= 63; cap++) {
		if (cap == CAP_NET_ADMIN || cap == CAP_NET_BIND_SERVICE)
			continue;
		/* Already out of the bounding set (a systemd unit's CapabilityBoundingSet=), or
		 * no CAP_SETPCAP to drop it: the capset below still empties our own sets. */
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
			return -errno;
	}
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep;
	if (syscall(SYS_capset, &h, data) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* Temporary files of a store write that a crash or a power cut interrupted. */
static void remove_stale_temporaries(const char *store)
{
	char pattern[CONF_PATH_MAX + 16];
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s.tmp.??????", store);
	if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (unlink(g.gl_pathv[i]) == 0)
			log_notice("removed %s, left by an interrupted store write", g.gl_pathv[i]);
	globfree(&g);
}

static int load_store(struct ikd *d)
{
	char err[512];
	struct stat st;
	int rc;

	/* Found now, not at the first change that cannot be saved. */
	rc = site_store_check_dir(d->conf.store, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		return rc;
	}
	if (stat(d->conf.store, &st) < 0 && errno == ENOENT) {
		log_notice("no store at %s yet: starting with no sites", d->conf.store);
		return 0;
	}
	rc = site_store_load(d->conf.store, &d->db, err, sizeof(err));
	if (rc < 0) {
		/* Never overwritten: the engineer decides what to do with it. */
		log_err("cannot load the store: %s", err);
		return rc;
	}
	log_info("store %s: %zu sites, %zu POPs", d->conf.store, d->db.n_sites, d->db.n_pops);
	return 0;
}

static void probe_kernel(struct ikd *d)
{
	struct xfrm_alg aead = { "rfc4106(gcm(aes))", (const uint8_t *)"0123456789abcdef0123", 20,
				 128 };
	struct xfrm_err e = { 0 };
	const char *missing = NULL;

	daemon_of(d)->esp_ok = xfrm_probe_esp(&daemon_of(d)->xs, NULL, NULL, &aead, &missing, &e) == 0;
	if (!daemon_of(d)->esp_ok && missing && strcmp(missing, "CONFIG_INET_ESP") != 0) {
		/*
		 * The kernel looks the algorithm up before ESP itself: a kernel with neither
		 * would be reported as lacking GCM alone. CBC and HMAC-SHA256 tell ESP apart.
		 */
		struct xfrm_alg cbc = { "cbc(aes)", aead.key, 16, 0 };
		struct xfrm_alg sha = { "hmac(sha256)", aead.key, 16, 128 };
		const char *esp = NULL;

		if (xfrm_probe_esp(&daemon_of(d)->xs, &cbc, &sha, NULL, &esp, &e) < 0 && esp &&
		    strcmp(esp, "CONFIG_INET_ESP") == 0)
			missing = esp;
	}
	daemon_of(d)->esp_missing = missing;
	if (!daemon_of(d)->esp_ok)
		log_warn("this kernel cannot run ESP%s%s: IKE will negotiate but Child SAs cannot be "
			 "installed", missing ? ": it lacks " : "", missing ? missing : "");
}

/*
 * DH key pairs made ahead on the other CPUs (dh-workers, ikd.conf(5)): as many workers as
 * the CPUs ikd may run on, less the one that runs everything else, at most 8.
 */
static void start_dh_workers(struct ikd *d)
{
	unsigned n = d->conf.dh_workers;
	cpu_set_t cpus;
	int rc;

	if (n == CONF_AUTO) {
		int k = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;

		n = k > 9 ? 8 : k > 1 ? (unsigned)k - 1 : 0;
	}
	if (!n)
		return;
	rc = crypto_dh_pool_start(n, DH_POOL_DEPTH);
	rc = rc ?: loop_add(&daemon_of(d)->loop, &daemon_of(d)->jobs_fd, crypto_dh_pool_fd(),
			    EPOLLIN, on_jobs, d);
	if (rc < 0) {
		crypto_dh_pool_stop();
		log_warn("DH workers: none (%s): key pairs and keys made as needed", strerror(-rc));
	} else {
		log_info("DH key pairs made ahead, and responders' keys made, by %u worker "
			 "thread%s", n, n == 1 ? "" : "s");
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct ikd_daemon dm;
	struct ikd *d = &dm.core;
	char err[512];
	bool debug = false, check = false;
	sigset_t sigs;
	int c, rc;

	dm.conf_path = CONF_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:dthV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dm.conf_path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 't':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ikd %s\n", IKD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ikd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	d->io = &ikd_io_daemon;
	d->io_arg = &dm;
	d->timers = &dm.loop.timers;
	conf_defaults(&d->conf);
	if (conf_load(&d->conf, dm.conf_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "ikd: %s\n", err);
		return 1;
	}
	if (debug)
		d->conf.log_level = LOG_DEBUG;
	log_setup(d->conf.log_level);
	/* Nonces, SPIs, IVs and keys: a getrandom(2) call per 4 KiB, not per draw. */
	if (crypto_random_install() < 0 || sodium_init() < 0) {
		log_err("libsodium cannot start");
		return 1;
	}
	if (!check)
		remove_stale_temporaries(d->conf.store);
	if (load_store(d) < 0)
		return 1;
	/* The role's rules for the sites' POPs (site_validate()) on every change. */
	d->db.role = d->conf.role == CONF_ROLE_RESPONDER ? SITE_ROLE_RESPONDER : SITE_ROLE_INITIATOR;
	ikd_sites_changed(d);
	if (check) {
		printf("ikd: %s and %s are valid (%zu sites, %zu POPs)\n", dm.conf_path, d->conf.store,
		       d->db.n_sites, d->db.n_pops);
		site_db_clear(&d->db);
		return 0;
	}
	dm.rxbuf = malloc(RXBUF_LEN);
	ike_writer_init(&d->out, IKE_MAX_MSG_LEN);
	dm.ctl_listen_fd = -1;
	d->started_ms = timer_now_ms();
	if (!dm.rxbuf || loop_init(&dm.loop) < 0 || ikd_tunnels_init(d) < 0 ||
	    secret_alloc(&d->cookie_secret, 32) < 0) {
		log_err("out of memory");
		return 1;
	}
	randombytes_buf(d->cookie_secret.p, d->cookie_secret.len);
	/* as much as a socket's receive buffer holds */
	rxq_init(&dm.costly, d->conf.receive_buffer ? d->conf.receive_buffer : 16u << 20);
	timer_init(&dm.costly_timer, costly_fire);
	health_init(&dm.health, &dm.loop, health_changed, d);
	rc = xfrm_open(&dm.xs);
	if (rc < 0) {
		log_err("cannot open the kernel's XFRM netlink socket: %s", strerror(-rc));
		return 1;
	}
	probe_kernel(d);
	rc = kernel_reconcile(d);
	if (rc < 0)
		log_warn("cannot read the kernel's SAs and policies: %s", strerror(-rc));
	rc = xfrm_events_open(&dm.ev);
	rc = rc ?: loop_add(&dm.loop, &dm.ev_fd, xfrm_events_fd(&dm.ev), EPOLLIN, on_kernel, d);
	if (rc < 0) {
		log_err("cannot subscribe to kernel XFRM events: %s", strerror(-rc));
		return 1;
	}
	if (open_sockets(d) < 0)
		return 1;
	probe_open(d);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	dm.signal_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (dm.signal_fd < 0 || loop_add(&dm.loop, &dm.sig_fd, dm.signal_fd, EPOLLIN, on_signal, d) < 0) {
		log_err("cannot set up signal handling");
		return 1;
	}
	if (ctl_server_open(d) < 0)
		return 1;
	rc = drop_capabilities();
	if (rc < 0)
		log_warn("cannot drop capabilities: %s", strerror(-rc));
	/* After the signal mask and the capabilities: the workers inherit both. */
	start_dh_workers(d);
	log_notice("ikd %s started: role %s, %zu sites, %zu POPs", IKD_VERSION,
		   d->conf.role == CONF_ROLE_INITIATOR ? "initiator" : "responder", d->db.n_sites,
		   d->db.n_pops);
	ikd_apply_all(d);
	health_configure(&dm.health, &d->conf);
	notify_send("READY=1");
	timer_init(&dm.t_status, status_fire);
	timer_arm(&dm.loop.timers, &dm.t_status, timer_now_ms());
	watchdog_ms = notify_watchdog_usec() / 2000;
	if (watchdog_ms) {
		timer_init(&dm.t_watchdog, watchdog_fire);
		timer_arm(&dm.loop.timers, &dm.t_watchdog, timer_now_ms() + watchdog_ms);
	}
	rc = loop_run(&dm.loop);
	if (crypto_dh_pool_fd() >= 0)
		loop_del(&dm.loop, &dm.jobs_fd);
	crypto_dh_pool_stop();	/* runs what was queued: every job is on the done list */
	health_clear(&dm.health);
	ctl_server_close(d);
	ikd_tunnels_clear(d);
	jobs_done(d);		/* their tunnels gone: each job is freed */
	probe_close(d);
	ikd_metrics_clear();	/* after the tunnels: their last SAs are counted */
	for (size_t i = 0; i < 4; i++)
		if (d->socks[i].fd >= 0)
			net_sock_close(&d->socks[i]);
	xfrm_events_close(&dm.ev);
	xfrm_close(&dm.xs);
	close(dm.signal_fd);
	loop_clear(&dm.loop);
	site_db_clear(&d->db);
	site_index_clear(&d->names);
	free(d->id_slots);
	secret_clear(&d->cookie_secret);
	ike_writer_clear(&d->out);
	timer_cancel(&dm.loop.timers, &dm.costly_timer);
	rxq_clear(&dm.costly);
	free(dm.rxbuf);
	log_notice("ikd stopped");
	return rc < 0 ? 1 : 0;
}
