"""``python -m stripe_emulator``: run the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from stripe_emulator.config import parse_command_line
from stripe_emulator.server import Emulator


def main(argv: Sequence[str] | None = None) -> int:
    options, settings = parse_command_line(argv)
    logging.basicConfig(
        level=options.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    emulator = Emulator(options, settings)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it cannot run on this thread.
        threading.Thread(target=emulator.shutdown, name="shutdown").start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    emulator.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
