/* cert.c - to be written */
