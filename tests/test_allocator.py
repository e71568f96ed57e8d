"""prepare limits glibc's malloc arenas (peak memory steady across runs), unless the user chose."""

import subprocess
import sys

CHECK = "from ultrachat_dataset.allocator import limit_arenas; print(limit_arenas())"


def run(env_extra: dict) -> str:
    import os
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    return subprocess.run([sys.executable, "-c", CHECK], env={**env, **env_extra}, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_the_arena_limit_is_taken_on_glibc_and_a_users_setting_is_left_alone():
    assert run({}) == "True"  # Linux with glibc: CI's machine and this one
    assert run({"MALLOC_ARENA_MAX": "8"}) == "False"
