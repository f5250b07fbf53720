/* validate.c - to be written */
