/* sshkey.c - to be written */
