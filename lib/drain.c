/* drain.c - being written */
