/* kv.c - to be written */
