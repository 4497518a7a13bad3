"""A kernel fork server: pays `import tensorflow, keras` once per grading worker, not once per submission.

The grader starts this file as a plain Python process (it imports nothing from the grader package and
never runs a student's code). It imports TensorFlow, Keras, ipykernel and matplotlib, runs no TensorFlow op, then
waits for requests on the socket the grader gave it. For each request it forks a child that:

1. joins the submission's cgroups and takes its resource limits;
2. confines itself as bubblewrap would (the grader sends the very arguments it would give bwrap, and
   `Confinement` carries out that subset in-process): new mount, network, IPC, UTS and PID namespaces;
   a root made of the submission's own scratch folder, the system and the Python runtime read-only;
   /dev and /proc of its own; then drops to the unprivileged kernel user, every capability and the
   right to gain any;
3. becomes the submission's ipykernel, as `python -m ipykernel_launcher -f CONNECTION` would.

So every submission runs in a process no earlier submission ran code in, with a scratch folder, /tmp and
cgroups made for it alone; only the (read-only, copy-on-write) memory of the imports is shared.
Protocol, one request at a time: the grader sends a JSON line; the reply is a line "ok PID" with a pidfd
of the child attached (SCM_RIGHTS), or "error TEXT".
"""

import ctypes
import json
import os
import platform
import resource
import select
import signal
import socket
import sys
from typing import Any

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NAME, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 15, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SERVER_NAME, KERNEL_NAME = b"autograder-fork", b"grading-kernel"  # what ps and top show (15 bytes at most)
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(platform.machine())
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
LIMITS = {"data": resource.RLIMIT_DATA, "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE,
          "core": resource.RLIMIT_CORE, "cpu": resource.RLIMIT_CPU}


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _prctl(option: int, value: int = 0) -> None:
    _check(libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
           f"prctl({option})")


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    _check(libc.mount(enc(source), enc(target), enc(kind), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or kind} on {target}")


def _die_with_parent(parent: int | None = None, alive: int | None = None) -> None:
    """SIGKILL this process when its parent dies; if it is already gone, die now. Either the parent's
    pid is known here, or (across a PID namespace, where it reads 0) `alive` is the read end of a pipe
    whose write end the parent holds: at end of file, the parent has gone."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    if alive is not None and select.select([alive], [], [], 0)[0]:
        os._exit(1)


# bubblewrap's options that Confinement carries out, with how many operands each takes.
TAKES = {"--bind": 2, "--ro-bind": 2, "--symlink": 2, "--tmpfs": 1, "--dev": 1, "--proc": 1,
         "--chdir": 1, "--hostname": 1, "--unsetenv": 1}
# Options the child always carries out whatever the arguments say (its namespaces, its tie to the server,
# its own session, an environment made from the request's alone): accepted, nothing more to do.
ALWAYS_DONE = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
               "--new-session", "--unsetenv")
ROOT_ONLY = ("--uid", "--gid", "--cap-drop", "--unshare-user")  # a user namespace: bwrap's, not ours


class Confinement:
    """The subset of bubblewrap's arguments the grader's sandbox uses, carried out in-process. Any other
    option is refused: a layer silently skipped would leave the kernel less confined than the report says."""

    def __init__(self, args: list[str]) -> None:
        self.root: str | None = None
        self.steps: list[tuple[str, list[str]]] = []  # (option, operands) in order
        self.proc: str | None = None
        self.chdir = "/"
        self.hostname: str | None = None
        args = list(args[1:] if args[:1] == ["bwrap"] else args)  # the program's name, as bwrap_args() has it
        while args:
            self._read(args.pop(0), args)
        if self.root is None:
            raise ValueError("no new root (--bind ROOT /) in the confinement")

    def _read(self, option: str, rest: list[str]) -> None:
        """One option and its operands, taken off the front of `rest`."""
        if option in ROOT_ONLY:
            raise ValueError(f"{option}: the fork server confines as root only")
        if option not in TAKES and option not in ALWAYS_DONE:
            raise ValueError(f"{option}: a bubblewrap option the fork server cannot carry out in-process "
                             "(grade with --no-fork-server, or teach harness/fork_server.Confinement)")
        if len(rest) < TAKES.get(option, 0):
            raise ValueError(f"{option}: expects {TAKES[option]} operands")
        operands = [rest.pop(0) for _ in range(TAKES.get(option, 0))]
        if option == "--bind" and operands[1] == "/":
            self.root = operands[0]
        elif option in ("--bind", "--ro-bind", "--symlink", "--tmpfs", "--dev"):
            self.steps.append((option, operands))
        elif option == "--proc":
            self.proc = operands[0]
        elif option == "--chdir":
            self.chdir = operands[0]
        elif option == "--hostname":
            self.hostname = operands[0]

    def _new_root(self) -> str:
        if self.root is None:  # refused by __init__ already
            raise ValueError("no new root (--bind ROOT /) in the confinement")
        return self.root

    def _at(self, path: str) -> str:
        return os.path.join(self._new_root(), path.lstrip("/"))

    def build(self) -> None:
        """In the new mount namespace: lay out the new root (everything but /proc)."""
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the host
        _mount(self.root, self._new_root(), None, MS_BIND | MS_REC)  # the new root must be a mount point
        for option, operands in self.steps:
            getattr(self, "_" + option.lstrip("-").replace("-", "_"))(*operands)
        if self.hostname:
            name = self.hostname.encode()
            _check(libc.sethostname(name, len(name)), "sethostname")

    def _bind(self, source: str, target: str, read_only: bool = False) -> None:
        target = self._at(target)
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount(source, target, None, MS_BIND | MS_REC)
        if read_only:
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
            for mount_point in [target] + self._mounts_under(target):
                _mount(None, mount_point, None, flags)

    @staticmethod
    def _mounts_under(target: str) -> list[str]:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4].replace("\\040", " ") for line in f]
        return [p for p in points if p.startswith(target.rstrip("/") + "/")]

    def _ro_bind(self, source: str, target: str) -> None:
        self._bind(source, target, read_only=True)

    def _symlink(self, link_target: str, path: str) -> None:
        if not os.path.lexists(self._at(path)):
            os.symlink(link_target, self._at(path))

    def _tmpfs(self, target: str) -> None:
        os.makedirs(self._at(target), exist_ok=True)
        _mount("tmpfs", self._at(target), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")

    def _dev(self, target: str) -> None:
        dev = self._at(target)
        os.makedirs(dev, exist_ok=True)
        _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")
        for name in DEVICES:
            open(os.path.join(dev, name), "a").close()
            _mount(f"/dev/{name}", os.path.join(dev, name), None, MS_BIND)
        for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                           ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")):
            os.symlink(link, os.path.join(dev, name))
        os.mkdir(os.path.join(dev, "shm"))
        os.chmod(os.path.join(dev, "shm"), 0o1777)
        os.mkdir(os.path.join(dev, "pts"))
        try:
            _mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
                   "newinstance,ptmxmode=0666,mode=620")
        except OSError:
            pass  # no pseudo-terminals: the kernel does not need them

    def enter(self) -> None:
        """In the new PID namespace (as its first process): mount /proc, make the new root "/"."""
        if self.proc:
            os.makedirs(self._at(self.proc), exist_ok=True)
            _mount("proc", self._at(self.proc), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        os.chdir(self._new_root())
        _check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")  # the old root now lies under "."
        _check(libc.umount2(b".", MNT_DETACH), "umount old root")
        os.chdir(self.chdir)


def loopback_up() -> None:
    """A new network namespace has only a loopback device, down: bring it up, as bubblewrap does, so
    that a connection to 127.0.0.1 is refused as on a laptop, not "unreachable"."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, struct.pack("16sH14x", b"lo", 0)))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def drop_privileges(uid: int) -> None:
    """Become `uid` with no capability at all, and no way to gain one (setpriv --inh-caps=-all
    --bounding-set=-all --no-new-privs)."""
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) == 0:
        cap += 1
    libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears the permitted and effective sets
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    _check(libc.syscall(SYS_CAPSET, header, (ctypes.c_uint32 * 6)()), "capset")  # and the inheritable set
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _forget_the_server() -> None:
    """What the imports cached of the server's environment, recomputed from the kernel's own on first use
    (its temporary folder, home, host name), and random states a fresh process would seed afresh."""
    import random
    import site
    import tempfile

    import numpy

    tempfile.tempdir = None
    platform._uname_cache = None  # type: ignore[attr-defined]
    site.USER_BASE = site.USER_SITE = None
    site.getusersitepackages()
    keras_config._KERAS_DIR = os.environ.get("KERAS_HOME", keras_config._KERAS_DIR)  # read at import
    for name in ("get_configdir", "get_cachedir"):  # remembered on first use: forget the server's folders
        found = getattr(matplotlib, name)
        cached = matplotlib._logged_cached  # type: ignore[attr-defined]  # matplotlib's own memo, private
        setattr(matplotlib, name, cached(f"{name}=%s", getattr(found, "__wrapped__", found)))
    random.seed()
    numpy.random.seed()


def run_kernel(request: dict[str, Any]) -> None:
    """Become the submission's ipykernel (what `python -m ipykernel_launcher -f FILE` does)."""
    import atexit

    os.setsid()
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd") and not request.get("bwrap"):
        os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # as with `python -m`: the working folder first, never this file's folder
    sys.argv = [ipykernel_launcher.__file__, "-f", request["connection_file"]]
    _forget_the_server()
    ipykernel.kernelapp.launch_new_instance()
    atexit._run_exitfuncs()  # as a kernel that exits normally would (its history, its files)


def _redirect(log_path: str) -> None:
    null = os.open("/dev/null", os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 65536)  # the server's socket and anything else it held


def child(request: dict[str, Any], server: int) -> None:
    """The forked child: confine, then run the kernel. Never returns."""
    status = 1
    try:
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(KERNEL_NAME), 0, 0, 0)  # and every process it starts
        _die_with_parent(server)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        _redirect(request["log"])
        for group in request.get("cgroups", []):
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        for name, value in (request.get("limits") or {}).items():
            resource.setrlimit(LIMITS[name], (value, value))
        box = Confinement(request["bwrap"]) if request.get("bwrap") else None
        flags = CLONE_NEWNET if request.get("network") or box else 0
        if box:
            flags |= CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID
        if flags:
            _check(libc.unshare(ctypes.c_int(flags)), "unshare")
            loopback_up()
        if box:
            box.build()
            status = _init(box, request)
        else:
            run_kernel(request)
            status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 - the grader reads the log: say why, then go
        print(f"autograder fork server: the kernel could not start: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _init(box: Confinement, request: dict[str, Any]) -> int:
    """Fork the PID namespace's first process (as bubblewrap's init: it reaps orphans); it forks the
    kernel. This process waits for it and exits with its status."""
    alive, holder = os.pipe()
    init = os.fork()
    if init:
        os.close(alive)
        return os.waitstatus_to_exitcode(os.waitpid(init, 0)[1])  # EINTR is retried by Python
    os.close(holder)
    status = 1
    try:
        box.enter()
        if request.get("uid") is not None:
            drop_privileges(request["uid"])
        _die_with_parent(alive=alive)  # after the change of user, which clears the parent-death signal
        os.close(alive)
        kernel = os.fork()
        if kernel == 0:
            _die_with_parent(1)
            run_kernel(request)
            os._exit(0)
        while True:
            pid, raw = os.wait()
            if pid == kernel:
                status = os.waitstatus_to_exitcode(raw)
                break
    except BaseException as exc:  # noqa: BLE001
        print(f"autograder fork server: the sandbox could not be made: {type(exc).__name__}: {exc}",
              file=sys.stderr)
    finally:
        sys.stderr.flush()
        os._exit(status if status >= 0 else 128 - status)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(sock: socket.socket) -> None:
    server = os.getpid()
    reader = sock.makefile("rb")
    signal.signal(signal.SIGCHLD, lambda *_: _reap())  # no ended kernel lingers as a zombie
    while True:
        line = reader.readline()
        if not line:
            return  # the grader closed its end
        request = json.loads(line)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])  # no reaping before the pidfd is open
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
            sock.sendall(f"error cannot fork: {exc}\n".encode())
            continue
        if pid == 0:
            reader.close()
            sock.close()
            child(request, server)
        pidfd = os.pidfd_open(pid)  # the number cannot name another process: it is not reaped yet
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        socket.send_fds(sock, [f"ok {pid}\n".encode()], [pidfd])
        os.close(pidfd)


if __name__ == "__main__":
    _die_with_parent(int(os.environ.pop("AUTOGRADER_GRADER_PID")))
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(SERVER_NAME), 0, 0, 0)
    fd = int(sys.argv[1])
    # What every kernel imports anyway, imported once here. No TensorFlow op runs in this process:
    # its thread pools start in each child.
    import tensorflow  # noqa: F401
    import keras  # noqa: F401
    import keras.src.backend.config as keras_config
    import ipykernel_launcher
    import ipykernel.kernelapp  # noqa: F401
    import matplotlib  # the lesson's first cells plot digits: its import and font list, once
    import matplotlib.pyplot  # noqa: F401  (backend: MPLBACKEND=agg, as in the kernel until %matplotlib)
    with socket.socket(fileno=fd) as server_socket:
        serve(server_socket)
    os._exit(0)  # no teardown of TensorFlow: nothing of this process needs it
