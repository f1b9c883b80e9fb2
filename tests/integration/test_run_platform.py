"""`make run`'s runner refuses to start without a broker, at once and saying what to do."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_stops_at_once_when_rabbitmq_is_unreachable(tmp_path):
    env = dict(os.environ, AMQP_URL="amqp://guest:guest@127.0.0.1:1//")
    result = subprocess.run([sys.executable, str(ROOT / "scripts/run_platform.py"), "run", "--port-base", "19500",
                             "--var-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "RabbitMQ is not reachable at amqp://guest:guest@127.0.0.1:1//" in result.stderr
    assert "rabbitmq-server" in result.stderr  # how to start one
    assert not (tmp_path / "identity.db").exists()  # nothing was migrated or started


def test_stop_without_a_running_platform_says_so(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts/run_platform.py"), "stop", "--var-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "not running" in result.stdout
