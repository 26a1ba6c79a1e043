/*
 * The daemon around the lifecycle: its sockets, netlink, probes, control server and metrics,
 * and the io (ikd.h) that connects the lifecycle to them. The lifecycle files include only
 * ikd.h; these files include both.
 */
#ifndef IKD_GLUE_H
#define IKD_GLUE_H

#include "health.h"
#include "tunnel/tunnel.h"
#include "loop.h"
#include "rxq.h"
#include "net.h"

/*
 * The daemon: the lifecycle (core) and what only the daemon has around it. Its io's arg is
 * the daemon itself, so glue code reaches it from the lifecycle's struct ikd (daemon_of).
 */
struct ikd_daemon {
	struct ikd core;
	const char *conf_path;
	struct loop loop;
	struct loop_fd sock_fds[4];
	struct xfrm_sock xs;
	/* The kernel's policy hash thresholds as last read or set (have4/6 false: not read). */
	struct xfrm_spd_hthresh spd;
	bool spd_failed;		/* reading or setting them failed: left alone */
	struct xfrm_events ev;
	struct loop_fd ev_fd;
	bool esp_ok;
	const char *esp_missing;
	uint8_t *rxbuf;
	struct rxq costly;		/* new IKE SAs' IKE_SA_INITs, answered after the rest */
	struct timer costly_timer;	/* works through them, a few at a time */
	struct timer t_status;		/* STATUS= for systemd, every 5 s */
	struct timer t_watchdog;	/* WATCHDOG=1, when systemd asks for it */
	struct timer t_stop;		/* stopping: waits for the Deletes' answers */
	int ctl_listen_fd;
	struct loop_fd ctl_fd;
	struct ctl_client *clients;
	int signal_fd;
	struct loop_fd sig_fd;
	struct loop_fd jobs_fd;		/* the DH workers' done derives (on_jobs) */
	int probe_fd[2];		/* raw ICMP and ICMPv6 sockets of the probes, -1: none */
	struct loop_fd probe_lfd[2];
	struct tunnel **probe_ids;	/* tunnels by probe identifier, made on first use */
	uint16_t probe_next;
	uint8_t probe_token[8];		/* random: echoes of this ikd carry it */
	struct health health;		/* responder: the downstream check (accepting or not) */
};

static inline struct ikd_daemon *daemon_of(const struct ikd *d)
{
	return d->io_arg;
}

/* glue.c: the daemon's io (arg: the struct ikd), and start-up's cleanup of the kernel */
extern const struct ikd_io ikd_io_daemon;
/* Start-up: remove the SAs and policies an earlier ikd left (ours by reqid and priority). */
int kernel_reconcile(struct ikd *d);

/* probe.c: the ICMP probe of each initiator tunnel whose POP has a probe IP */
void probe_open(struct ikd *d);		/* at start-up, while CAP_NET_RAW is held */
void probe_close(struct ikd *d);
/* Set up t's probe (its policy included); -errno and why when it cannot have one. */
int probe_start(struct tunnel *t, const struct site *s, const struct pop *p, char *why,
		size_t why_len);
void probe_stop(struct tunnel *t);
int probe_send(struct tunnel *t);
/* ctl_server.c */
int ctl_server_open(struct ikd *d);
/* Hand an event (ikd_event, through the io) to every `xfrmctl monitor`. */
void ctl_server_event(struct ikd *d, const char *site, const char *pop, const char *event,
		      const char *detail);
void ctl_server_close(struct ikd *d);
/* ctl_runtime.c: the daemon's answers to the handler; its throughput samples freed. */
extern const struct ctl_runtime ikd_ctl_runtime;
void ctl_runtime_clear(void);

/*
 * metrics.c: a site's counters for `xfrmctl metrics`, kept apart from its tunnels so that
 * they only grow while ikd runs (a tunnel torn down, an SA deleted, the site edited or
 * disabled); forgotten when the site is deleted.
 */
void metrics_count(const char *site, enum ctl_sm what);
/*
 * A Child SA leaves the kernel: its last counters go to the site's totals. expired: the
 * kernel's hard expiry of one of its halves (its counters come with the event), or NULL.
 */
void ikd_metrics_child_gone(struct ikd *d, const struct tunnel *t, const struct child *c,
			    const struct xfrm_event *expired);
/* Its outbound half leaves first (kernel_child_stop_out): that half's counters. */
void ikd_metrics_child_out_gone(struct ikd *d, const struct tunnel *t, const struct child *c);
void ikd_metrics_start(struct ikd *d);
void ikd_metrics_forget(const char *site);
/* A site was renamed: its counters go on under the new name. */
void ikd_metrics_rename(const char *old_name, const char *new_name);
void ikd_metrics_clear(void);
/* The control handler's `metrics` callback (ctl_runtime.metrics). */
int ikd_metrics_page(void *arg, const struct site *const *sites, size_t n, struct ike_writer *w);

#endif
