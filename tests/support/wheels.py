"""The tests build wheels with the demo's builder (one piece of code for both)."""

from depbot.demo.wheels import Dist, build_wheel

__all__ = ["Dist", "build_wheel"]
