import time
from .conftest import run_cli


def test_explore(live_db):
    cmds = [
        ("tenants", "--help"),
        ("tenants", "create", "--help"),
        ("tenants", "domains", "--help"),
        ("tenants", "domains", "add", "--help"),
        ("tenants", "pool", "fill", "--help"),
        ("tenants",),
        ("tenants", "bogus"),
        ("tenants", "create"),
        ("tenants", "create", "x1", "--name", "X"),
        ("tenants", "create", "public", "--name", "X", "--owner-email", "a@b.test"),
        ("tenants", "create", "xplore", "--name", "X", "--owner-email", "bad"),
        ("tenants", "create", "xplore", "--name", "X", "--owner-email", "a@b.test", "--plan", "gold"),
        ("tenants", "create", "xplore", "--name", "X", "--owner-email", "a@b.test", "--domain", "alpha.localhost"),
        ("tenants", "create", "xplore", "--name", "Xplore", "--owner-email", "A@B.test"),
        ("tenants", "create", "xplore2", "--name", "Xplore", "--owner-email", "A@B.test", "--json", "--domain", "shop.xp.example", "--plan", "pro"),
        ("tenants", "list"),
        ("tenants", "list", "--json"),
        ("tenants", "show", "xplore"),
        ("tenants", "show", "nope"),
        ("tenants", "suspend", "xplore", "--reason", "unpaid"),
        ("tenants", "show", "xplore"),
        ("tenants", "delete", "xplore", "--purge"),
        ("tenants", "delete", "xplore", "--yes"),
        ("tenants", "delete", "xplore"),
        ("tenants", "suspend", "xplore"),
        ("tenants", "delete", "xplore", "--purge", "--yes"),
        ("tenants", "domains", "list", "xplore2"),
        ("tenants", "domains", "remove", "xplore2", "shop.xp.example"),
        ("tenants", "domains", "add", "xplore2", "beta.localhost"),
        ("tenants", "migrate"),
        ("tenants", "migrate", "--json"),
        ("tenants", "migrate", "--tenant", "nope"),
        ("tenants", "migrate", "--parallel", "0"),
        ("tenants", "pool", "status"),
        ("tenants", "pool", "status", "--json"),
        ("tenants", "pool", "fill", "-1"),
        ("demo_tenants",),
    ]
    live_db.extend(["xplore", "xplore2", "acme", "globex"])
    for c in cmds:
        t = time.perf_counter()
        r = run_cli(*c)
        print(f"=== {c} rc={r.returncode} {time.perf_counter()-t:.2f}s\n--out\n{r.stdout}--err\n{r.stderr}")
