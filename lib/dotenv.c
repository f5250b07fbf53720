/* dotenv.c - to be written */
