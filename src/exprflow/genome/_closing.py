"""A mixin giving readers that hold an open file the ``with`` statement."""

from __future__ import annotations

from typing import Self

__all__ = ["Closing"]


class Closing:
    """``with reader:`` calls ``reader.close()`` at the end of the block."""

    def close(self) -> None:
        """Release the underlying file."""
        raise NotImplementedError(f"{type(self).__name__} must define close()")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
