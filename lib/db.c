/* db.c - to be written */
