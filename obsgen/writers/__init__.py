"""Turn built values into file contents, and write a whole output tree atomically."""
