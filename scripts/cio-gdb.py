"""gdb commands for cio programs (load with: source scripts/cio-gdb.py).

cio-tasks       list the unfinished tasks of the loop running on this thread:
                address, state, name ("Task-N (function)" unless one was set), sp
cio-bt TASK     backtrace of a suspended task (TASK: an address from cio-tasks)

A suspended task's registers sit on its own stack where cio__switch pushed
them; cio-bt points the registers there for one `bt`, then puts them back.
Works on a live process (x86_64 and aarch64), not on core files.
"""
import gdb

STATES = {0: "new", 1: "ready", 2: "running", 3: "parked", 4: "done"}


def _arch():
    return gdb.selected_frame().architecture().name()


def _tasks():
    loop = gdb.parse_and_eval("tls_running")
    if int(loop) == 0:
        raise gdb.GdbError("no cio loop runs on this thread")
    task_ptr = gdb.lookup_type("cio__task").pointer()
    offset = int(gdb.parse_and_eval("(unsigned long)&((cio__task *)0)->all_link"))
    node = loop["all_tasks"]["head"]
    while int(node) != 0:
        yield gdb.Value(int(node) - offset).cast(task_ptr)
        node = node["next"]


def _name(t):
    """The name cio_task_name gives: the one set, or "Task-N (function)"."""
    name = t["name"]
    if int(name):
        return name.string()
    label = "Task-%d" % int(t["id"])
    sym = gdb.block_for_pc(int(t["fn"]))
    fn = sym.function if sym else None
    while sym and not fn:
        sym = sym.superblock
        fn = sym.function if sym else None
    if fn:
        return "%s (%s)" % (label, fn.print_name)
    msym = gdb.execute("info symbol 0x%x" % int(t["fn"]), to_string=True).split()
    return "%s (%s)" % (label, msym[0]) if msym and msym[0] != "No" else label


class CioTasks(gdb.Command):
    """List the unfinished tasks of the loop running on this thread."""

    def __init__(self):
        super().__init__("cio-tasks", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        for t in _tasks():
            state = STATES.get(int(t["tstate"]), "?")
            # The task's own address (what cio-bt takes), not the list link's.
            print("0x%x  %-8s %-30s sp=0x%x" % (int(t), state, _name(t), int(t["sp"])))


class CioBt(gdb.Command):
    """Backtrace of a suspended cio task: cio-bt TASK_ADDRESS."""

    def __init__(self):
        super().__init__("cio-bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        if not arg:
            raise gdb.GdbError("usage: cio-bt TASK_ADDRESS (see cio-tasks)")
        t = gdb.parse_and_eval("(cio__task *)(%s)" % arg)
        if int(t["tstate"]) == 2:
            raise gdb.GdbError("that task is running: use bt")
        sp = int(t["sp"])
        gdb.execute("frame 0", to_string=True)
        if "aarch64" in _arch():
            # [sp+0] x19..x28, x29, x30 ... after the switch sp += 176
            saved = {"x29": sp + 80, "x30": sp + 88}
            names = ["x%d" % i for i in range(19, 31)] + ["sp", "pc"]
            new = {("x%d" % (19 + i)): "*(long *)%d" % (sp + 8 * i) for i in range(12)}
            new["sp"] = str(sp + 176)
            new["pc"] = "*(long *)%d" % saved["x30"]
        else:
            # [sp+0] MXCSR/CW, r15, r14, r13, r12, rbx, rbp, return address
            names = ["r15", "r14", "r13", "r12", "rbx", "rbp", "rsp", "rip"]
            new = {r: "*(long *)%d" % (sp + 8 * (i + 1)) for i, r in enumerate(names[:6])}
            new["rsp"] = str(sp + 64)
            new["rip"] = "*(long *)%d" % (sp + 56)
        old = {r: int(gdb.parse_and_eval("$" + r)) for r in names}
        # Read every saved value before changing any register.
        values = {r: int(gdb.parse_and_eval(new[r])) for r in names}
        try:
            for r in names:
                gdb.execute("set $%s = %d" % (r, values[r]), to_string=True)
            gdb.execute("bt")
        finally:
            gdb.execute("frame 0", to_string=True)
            for r in names:
                gdb.execute("set $%s = %d" % (r, old[r]), to_string=True)


CioTasks()
CioBt()
