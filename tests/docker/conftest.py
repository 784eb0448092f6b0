import pytest

from lab.stack import Stack


@pytest.fixture(scope="session")
def lab():
    """The real lab stack, built and up for the whole Docker tier; torn down afterwards,
    and the teardown fails the run if any container, network or volume of the lab is left."""
    stack = Stack(echo=None)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        left = stack.leftovers()
        assert not any(left.values()), f"lab resources left after down: {left}"
