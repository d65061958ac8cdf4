"""Profiles: the commands they build, their validation, and their home in the settings file."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from app.bundled_model import bundled_model_path
from app.launcher import (
    InvalidProfile,
    LaunchError,
    LauncherSettings,
    Profile,
    RestartPolicy,
    ServerController,
)
from app.settings import Settings


def test_bundled_defaults_to_smollm2_on_loopback() -> None:
    profile = Profile.bundled()
    assert profile.url == "http://127.0.0.1:8080"
    command = profile.command()
    assert command[1:3] == ["-m", "app.localserver"]
    model = bundled_model_path()
    assert model is not None and command[command.index("--model") + 1] == str(model)
    for flag, value in (("--host", "127.0.0.1"), ("--port", "8080"), ("--ctx-size", "4096"),
                        ("--gpu-layers", "0"), ("--pool-size", "8")):
        assert command[command.index(flag) + 1] == value
    assert "--threads" not in command  # the server measures the fastest count itself
    assert "--threads" in Profile.bundled(threads=1).command()


def test_any_gguf_and_bad_models(tmp_path: Path) -> None:
    model = tmp_path / "big.gguf"
    model.write_bytes(b"GGUF")
    assert Profile.bundled(model=str(model)).command()[4] == str(model)
    with pytest.raises(InvalidProfile, match="does not exist"):
        Profile.bundled(model=str(tmp_path / "missing.gguf")).command()
    with pytest.raises(InvalidProfile, match=r"\.gguf"):
        Profile.bundled(model=str(tmp_path / "model.bin")).command()
    problems = Profile.bundled(port=70000, ctx_size=10).validate()
    assert any("65535" in p for p in problems) and any("Context size" in p for p in problems)


def _executable(tmp_path: Path) -> Path:
    binary = tmp_path / "layerscale-server"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_binary_command_has_every_flag(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    binary = _executable(tmp_path)
    profile = Profile(name="bin", kind="binary", binary=str(binary), model=str(model),
                      port=9001, flash_attn=True, kv_cache_type="q8_0", log_format="json",
                      gpu_layers=33, pool_size=4, ctx_size=8192)
    assert profile.command() == [
        str(binary), "--model", str(model), "--ctx-size", "8192", "--host", "127.0.0.1",
        "--port", "9001", "--gpu-layers", "33", "--flash-attn", "--kv-cache-type", "q8_0",
        "--pool-size", "4", "--log-format", "json"]
    with pytest.raises(InvalidProfile, match="executable"):
        Profile(name="b", kind="binary", binary=str(tmp_path / "nope"), model=str(model)).command()


def test_container_command_maps_port_gpus_and_key_by_name(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    profile = Profile(name="Box", kind="container", image_tag="1.2.3", port=8090,
                      model=str(model))
    command = profile.command()
    assert command[:2] == ["docker", "run"]
    assert "layerscale/layerscale:1.2.3" in command
    assert command[command.index("-p") + 1] == "127.0.0.1:8090:8090"
    assert command[command.index("--gpus") + 1] == "all"
    # The key goes by name only: docker copies it from its own environment.
    assert command[command.index("-e") + 1] == "LAYERSCALE_LICENSE_KEY"
    assert f"{tmp_path}:/models:ro" in command
    image = command.index("layerscale/layerscale:1.2.3")
    assert command[image + 1:image + 3] == ["--model", "/models/m.gguf"]
    assert command[command.index("--host", image) + 1] == "0.0.0.0"


def test_container_without_docker_says_so(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker anywhere on PATH
    controller = ServerController(Profile(name="Box", kind="container", port=8091))
    with pytest.raises(LaunchError, match="Docker is not installed"):
        asyncio.run(controller.start())
    assert not controller.state_file.exists()


def test_container_without_engine_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has the docker CLI but no engine: the real `docker version` fails."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    controller = ServerController(Profile(name="Box", kind="container", port=8092))
    with pytest.raises(LaunchError, match="engine is not reachable"):
        asyncio.run(controller.start())
    assert not controller.state_file.exists()


def test_profiles_live_in_settings_shared_with_cli() -> None:
    launcher = LauncherSettings()
    assert [p.name for p in launcher.profiles()] == ["Bundled"]
    launcher.save(Profile.bundled(port=9100, name="Second"))
    launcher.select("Second")
    again = LauncherSettings(Settings())
    assert again.get().port == 9100 and again.selected_name() == "Second"
    launcher.save(Profile.bundled(port=9101, name="Renamed"), old_name="Second")
    assert "Second" not in again.names() and again.get("Renamed").port == 9101
    with pytest.raises(KeyError, match="known"):
        again.get("nope")
    launcher.restart_policy = RestartPolicy(enabled=True, max_crashes=5)
    launcher.auto_start = True
    launcher.on_quit = "leave"
    fresh = LauncherSettings(Settings())
    assert fresh.restart_policy.enabled and fresh.restart_policy.max_crashes == 5
    assert fresh.auto_start and fresh.on_quit == "leave"


def test_restart_backoff_is_capped() -> None:
    policy = RestartPolicy(enabled=True, base_delay=1, max_delay=8)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


def test_settings_dir_is_isolated(isolated_dirs: Path) -> None:
    assert str(Settings().path).startswith(str(isolated_dirs))
    assert os.environ["XDG_STATE_HOME"].startswith(str(isolated_dirs))


def test_profile_chooses_the_api_generation() -> None:
    """The bundled server gets `--api N`; `--api-key` only for generation 2 and on request."""
    first = Profile.bundled().command()
    assert first[first.index("--api") + 1] == "1" and "--api-key" not in first
    second = Profile.bundled(api=2, require_key=True)
    command = second.command()
    assert command[command.index("--api") + 1] == "2" and "--api-key" in command
    assert "--api-key" not in Profile.bundled(api=1, require_key=True).command()
    assert Profile.from_dict(second.to_dict()) == second
    assert any("API generation" in p for p in Profile.bundled(api=3).validate())
