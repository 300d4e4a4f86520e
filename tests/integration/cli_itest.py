"""What the end-to-end tests of the API commands (`tally report`, `tally
limits`) share: running the command against the API at an address, and
checking a failure.

Imported by test_report_cli.py and test_limits_cli.py from their own folder.
"""
import subprocess


def run_cli(tally, command, args, env, addr, key, api=True):
    """Run `tally COMMAND ARGS...` with env, TALLY_HTTP_ADDR=addr and
    TALLY_API_KEY=key (None: unset), adding --api http://addr unless api is
    false or args give one; (exit code, stdout, stderr)."""
    env = dict(env, TALLY_HTTP_ADDR=addr)
    if key is not None:
        env["TALLY_API_KEY"] = key
    argv = [tally, command, *args]
    if api and "--api" not in args:
        argv += ["--api", "http://" + addr]
    p = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class FailsMixin:
    """assert_fails for a unittest.TestCase with a run_cli(*args, **kw)."""

    def assert_fails(self, args, rc_want, *fragments, **kw):
        rc, out, err = self.run_cli(*args, **kw)
        self.assertEqual(rc, rc_want, "stderr: " + err)
        self.assertEqual(out, "")
        for frag in fragments:
            self.assertIn(frag, err)
        return err
