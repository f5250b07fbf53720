/* logemit.c - being written */
