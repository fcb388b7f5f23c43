/* Stand-in for runc's contrib/cmd/recvtty (Go; Debian's runc package does not
 * ship it). Only what runc's tests/integration/helpers.bash uses:
 *   recvtty --pid-file FILE --mode null SOCKET
 * Listens on SOCKET, takes each console master fd a runtime passes over
 * SCM_RIGHTS (--console-socket) and drains it to nowhere, so a detached
 * container with terminal=true never blocks on a full pty. `--mode single`
 * copies the first console to stdout and exits when it closes. C rather than
 * a script because the helpers do not wait for the socket: it must be bound
 * before the next runtime call (Go's recvtty starts in milliseconds too).
 * It closes inherited fds above 2 so that, leaked by a failing case that never
 * reaches its `kill`, it does not hold bats' output pipe and stall the file. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAXFD 256

int main(int argc, char **argv) {
	const char *pidfile = NULL, *mode = "single", *path = NULL;
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "--pid-file") || !strcmp(argv[i], "-pid-file")) && i + 1 < argc)
			pidfile = argv[++i];
		else if ((!strcmp(argv[i], "--mode") || !strcmp(argv[i], "-mode")) && i + 1 < argc)
			mode = argv[++i];
		else if (argv[i][0] == '-')
			continue; /* --no-stdin: stdin is never read anyway */
		else
			path = argv[i];
	}
	if (!path) { fprintf(stderr, "usage: recvtty [--pid-file F] [--mode null|single] SOCKET\n"); return 2; }
	int single = strcmp(mode, "null") != 0;
	for (int fd = 3; fd < 1024; fd++) close(fd);
	signal(SIGPIPE, SIG_IGN);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 16) < 0) { perror("recvtty: bind"); return 1; }
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (f) { fprintf(f, "%d", getpid()); fclose(f); }
	}
	struct pollfd p[MAXFD];
	int n = 1;
	p[0] = (struct pollfd){.fd = s, .events = POLLIN};
	char buf[65536];
	for (;;) {
		if (poll(p, n, -1) < 0) continue;
		for (int i = n - 1; i >= 1; i--) {
			if (!p[i].revents) continue;
			ssize_t r = read(p[i].fd, buf, sizeof buf);
			if (r > 0) { if (single && write(1, buf, r) < 0) single = 1; continue; }
			close(p[i].fd);
			p[i] = p[--n];
			if (single) return 0;
		}
		if (!(p[0].revents & POLLIN)) continue;
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) continue;
		char data[4096], ctl[CMSG_SPACE(4 * sizeof(int))];
		struct iovec iov = {data, sizeof data};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
		if (recvmsg(c, &m, MSG_CMSG_CLOEXEC) >= 0)
			for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
				if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
					int k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
					int *fds = (int *)CMSG_DATA(h);
					for (int j = 0; j < k; j++) {
						if (n < MAXFD) p[n++] = (struct pollfd){.fd = fds[j], .events = POLLIN};
						else close(fds[j]);
					}
				}
		close(c);
	}
}
