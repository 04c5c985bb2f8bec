"""The offline demo: tiny wheels, a loopback index, a sample project, the whole pipeline."""
