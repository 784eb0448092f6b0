"""DNS backends: the authoritative servers enactors write plans to."""
