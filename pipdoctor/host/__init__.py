"""Facts of this machine that any installer's cache sits on: accounts and HOME, permissions, mounts, dirs, temp dirs."""
