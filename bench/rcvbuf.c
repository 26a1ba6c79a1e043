/*
 * An experiment for bench/storm.sh (STORM_RCVBUF=BYTES), not part of ikd: preloaded into ikd
 * (LD_PRELOAD), it gives each UDP socket ikd binds a receive buffer of STORM_RCVBUF bytes
 * (SO_RCVBUFFORCE: ikd is still root when it binds) instead of net.core.rmem_default, which
 * ikd keeps. It shows what the kernel's drops at that buffer cost a reconnect storm, without
 * changing ikd or the host's setting (a network namespace's rmem_default is read-only).
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real_bind)(int, const struct sockaddr *, socklen_t);
	const char *want = getenv("STORM_RCVBUF");
	int type = 0, size;
	socklen_t tlen = sizeof(type);

	if (!real_bind)
		real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	if (!real_bind)
		return -1;
	if (want && (size = atoi(want)) > 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_DGRAM &&
	    addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	return real_bind(fd, addr, len);
}
