// Package launch starts a FUSE server on the far end of an AF_UNIX
// SOCK_SEQPACKET socketpair, so that a userspace client (fusectl's client or
// its interposer) can talk FUSE to it without a kernel mount.
//
// Servers cannot be told "use this socket" directly; each FUSE library has
// its own way of obtaining /dev/fuse, and each [Method] exploits one of them:
//
//   - [DevFD]: the mountpoint argument is /dev/fd/3, which libfuse3 ≥ 3.3,
//     go-fuse ≥ 2.2 and jacobsa/fuse take as "the FUSE connection is this
//     descriptor". No privilege, no mount.
//   - [ShimPath]: a fake fusermount first on PATH (bazil.org/fuse).
//     The fake is this very executable: [RunShimIfInvoked] makes a program
//     behave as fusermount when it is invoked under that name.
//   - [ShimNamespace]: for libfuse2, which execs the absolute path
//     /bin/fusermount, the server runs in a private mount namespace in which
//     the shim is bind-mounted over the real fusermount, with
//     -o auto_unmount added so that libfuse uses fusermount even as root.
//   - [Intercept]: for servers that open /dev/fuse and call mount(2)
//     themselves (ntfs-3g; libfuse2 and mergerfs, which then need no
//     fusermount at all), a seccomp filter turns those calls into
//     notifications that Start answers: the open gets the socket, the
//     mount succeeds without mounting. The launcher that installs the
//     filter is this executable too, and the PATH shim is in place as
//     well, so that Go servers of any library work under it. Auto prefers
//     it to both shims where it has a filter for the architecture and
//     the kernel is Linux 5.14 or later.
//
// The shim works in rendezvous mode: Start listens on a SOCK_SEQPACKET
// socket in a private temporary directory and puts its path in the
// server's environment (FUSECTL_SHIM_SOCK). The shim, run by the server's
// FUSE library with _FUSE_COMMFD set, connects there, sends its argv (which
// reveals the mount options the server asked for), receives the server end
// of the socketpair over SCM_RIGHTS and passes it on over _FUSE_COMMFD
// exactly as fusermount passes /dev/fuse. A path survives what an inherited
// descriptor may not: libraries that dup their own socket onto fd 3,
// servers that close stray descriptors, and daemonizing.
//
// [DetectMethod] picks a method from the executable: ELF DT_NEEDED entries
// (libfuse.so.2, libfuse3.so.3, libntfs-3g) and Go build information
// (go-fuse, jacobsa, bazil).
package launch
