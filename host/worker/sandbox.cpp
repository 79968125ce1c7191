#include "host/worker/sandbox.h"

#include "common/sanitizers.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
// Xen's device ioctls (libxen-dev): the only ones a worker may make.
#include <stdint.h>
#include <sys/ioctl.h>
#include <termios.h>
typedef uint16_t domid_t;  // what <xen/sys/evtchn.h> expects from Xen's own headers
#include <xen/sys/evtchn.h>
#include <xen/sys/gntdev.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace xen3d::host {

namespace {

// What llvmpipe and softpipe call while a worker renders, found by tracing
// workers through glxgears, glmark2, OpenArena and piglit's quick_gl
// (docs/render-workers.md says how to trace again after a Mesa update).
// Threads, memory, time, signals to itself, and I/O on descriptors it holds.
const char* const kAllowed[] = {
    // memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "munlock", "membarrier",
    // window buffers the guest's X server maps (host/gpu/frame_memory_winsys.h): anonymous files
    "memfd_create", "ftruncate",
    // threads and waiting
    "set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler", "sched_setscheduler",
    "set_tid_address", "gettid", "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "exit", "exit_group",
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "getrusage",
    "getrandom", "uname", "sysinfo", "getpriority", "setpriority", "prlimit64", "getrlimit",
    // signals (to itself: abort, thread cancellation)
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack", "tgkill", "tkill",
    "restart_syscall",
    // I/O on what it holds: the rings' doorbells and socket, the link, its log
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "fstat", "newfstatat", "statx",
    "fcntl", "dup", "dup3", "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "eventfd2",
    "recvmsg", "sendmsg", "recvfrom", "sendto", "shutdown", "getsockopt",
    // reading what the driver looks up once in a while (cpu topology, /proc/self)
    "readlink", "readlinkat", "getcwd", "access", "faccessat", "faccessat2", "getdents64", "prctl", "arch_prctl",
};

bool drop_privileges(bool keep_uid, std::string& error) {
  if (geteuid() != 0) return true;
  // A network of its own (nothing in it) and nobody's ids.
  if (unshare(CLONE_NEWNET) != 0) {
    error = std::string("cannot leave the host's network: ") + std::strerror(errno);
    return false;
  }
  if (keep_uid) return true;
  const gid_t nogroup = 65534;
  const uid_t nobody = 65534;
  if (setgroups(0, nullptr) != 0 || setresgid(nogroup, nogroup, nogroup) != 0 ||
      setresuid(nobody, nobody, nobody) != 0) {
    error = std::string("cannot drop root: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool limit_resources(uint64_t quota, uint64_t max_file_bytes, std::string& error) {
  // What is mapped now (LLVM, the screen, the rings) plus the quota, twice
  // over for the driver's own copies and staging, plus slack for threads.
  uint64_t mapped = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long long pages = 0;
    if (std::fscanf(f, "%llu", &pages) == 1) mapped = pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    std::fclose(f);
  }
  const uint64_t slack = uint64_t{1} << 30;
  rlimit as{};
  as.rlim_cur = as.rlim_max = mapped + 2 * quota + slack;
  rlimit none{};
  rlimit files{};
  files.rlim_cur = files.rlim_max = 256;
  if (setrlimit(RLIMIT_AS, &as) != 0 || setrlimit(RLIMIT_CORE, &none) != 0 || setrlimit(RLIMIT_NOFILE, &files) != 0) {
    error = std::string("cannot set resource limits: ") + std::strerror(errno);
    return false;
  }
  if (max_file_bytes) {
    // The shader cache's file: a guest compiling shader after shader must
    // not fill the host's disk. The limit is per file, and also bounds the
    // window buffers' memfds (frame_memory_winsys.cpp), whose largest
    // (16384 x 16384 x 4 bytes) is 1 GiB. Past it a write fails (EFBIG)
    // instead of raising SIGXFSZ.
    rlimit fsize{};
    fsize.rlim_cur = fsize.rlim_max = max_file_bytes;
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &fsize) != 0) {
      error = std::string("cannot limit file sizes: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
}

bool install_filter(int snapshot_dir_fd, bool shader_cache, std::string& error) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) {
    error = "seccomp_init failed";
    return false;
  }
  int rc = 0;
  for (const char* name : kAllowed) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0) break;
  }
#if XEN3D_ADDRESS_SANITIZER
  // The sanitized host (tests, fuzzing) only: ASan writes its reports to
  // files it opens when it finds something (and probes memory through a
  // pipe), and LeakSanitizer's check at
  // exit stops the world with a ptrace'd helper. Without these, a finding
  // would end as a bare SIGSYS. Release builds never allow them.
  // (The leak check's helper lists /proc/self/task with getdents; were it
  // killed, the worker would wait for it forever at exit.)
  for (const char* name : {"ptrace", "wait4", "openat", "open", "unlink", "unlinkat", "clone", "pipe", "pipe2", "kill",
                           "getdents", "stat", "lstat"}) {
    if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, seccomp_syscall_resolve_name(name), 0);
  }
  // Whether the report file is a terminal (for colours).
  if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TCGETS));
#endif
  // Threads only, never processes; clone3's flags sit in memory a filter
  // cannot read, so it says ENOSYS and glibc falls back to clone.
  if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
  if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  // A Xen guest's worker rings the guest's event channel and, at the end,
  // unmaps its grants (libxengnttab looks the map up by address first):
  // those ioctls on Xen's devices, no others.
  for (unsigned long request : {static_cast<unsigned long>(IOCTL_EVTCHN_NOTIFY),
                                static_cast<unsigned long>(IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR),
                                static_cast<unsigned long>(IOCTL_GNTDEV_UNMAP_GRANT_REF)}) {
    if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, request));
  }
  // The shader cache's writer locks its file around each append.
  if (!rc && shader_cache) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(flock), 0);
  // Files: read-only, never created.
  const scmp_datum_t write_bits = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE;
  if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, write_bits, 0));
  if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, write_bits, 0));
  // Snapshots: anything, but only inside their directory.
  if (!rc && snapshot_dir_fd >= 0) {
    const scmp_datum_t dir = static_cast<scmp_datum_t>(snapshot_dir_fd);
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, SCMP_A0(SCMP_CMP_EQ, dir));
    if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unlinkat), 1, SCMP_A0(SCMP_CMP_EQ, dir));
    if (!rc) {
      rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat), 2, SCMP_A0(SCMP_CMP_EQ, dir),
                            SCMP_A2(SCMP_CMP_EQ, dir));
    }
    if (!rc) {
      rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat2), 2, SCMP_A0(SCMP_CMP_EQ, dir),
                            SCMP_A2(SCMP_CMP_EQ, dir));
    }
  }
  if (!rc) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc) {
    error = std::string("cannot install the seccomp filter: ") + std::strerror(-rc);
    return false;
  }
  return true;
}

}  // namespace

bool enter_sandbox(const SandboxPolicy& policy, std::string& error) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    error = std::string("cannot set no_new_privs: ") + std::strerror(errno);
    return false;
  }
  return drop_privileges(policy.keep_uid, error) &&
         limit_resources(policy.memory_quota_bytes, policy.shader_cache_max_bytes, error) &&
         install_filter(policy.snapshot_dir_fd, policy.shader_cache_max_bytes != 0, error);
}

}  // namespace xen3d::host
