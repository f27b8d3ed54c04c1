"""The emulator subprocess runner lives in `stripe_emulator.process` (the simulation command uses
it too); tests keep importing it from here."""

from stripe_emulator.process import EmulatorProcess, free_port

__all__ = ["EmulatorProcess", "free_port"]
