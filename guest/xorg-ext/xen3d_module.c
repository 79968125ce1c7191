/* STUB: to be written. */
