/*
 * test_kv.c - unit tests for the key/value and string lists (lib/kv.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/kv.h"
#include "unit.h"

TEST(set_get_replace)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;

	CHECK(deis_kvlist_get(&l, "A") == NULL);
	deis_kvlist_set(&l, "B", "2");
	deis_kvlist_set(&l, "A", "1");
	CHECK(l.n == 2);
	CHECK_STR(deis_kvlist_get(&l, "A"), "1");
	CHECK_STR(deis_kvlist_get(&l, "B"), "2");
	deis_kvlist_set(&l, "B", "two");
	CHECK(l.n == 2);
	CHECK_STR(deis_kvlist_get(&l, "B"), "two");
	/* Insertion order is kept: B first. */
	CHECK_STR(l.items[0].key, "B");
	CHECK_STR(l.items[1].key, "A");
	CHECK(deis_kvlist_get(&l, "a") == NULL);	/* case matters */
	CHECK(deis_kvlist_get(&l, NULL) == NULL);
	deis_kvlist_clear(&l);
	CHECK(l.n == 0 && l.items == NULL && l.cap == 0);
}

TEST(set_copies_strings)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	char key[8] = "KEY", val[8] = "val";

	deis_kvlist_set(&l, key, val);
	key[0] = 'X';
	val[0] = 'X';
	CHECK_STR(deis_kvlist_get(&l, "KEY"), "val");
	deis_kvlist_clear(&l);
}

TEST(set_value_aliasing_itself)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;

	deis_kvlist_set(&l, "A", "hello");
	/* The new value points into the old one, which set frees. */
	deis_kvlist_set(&l, "A", deis_kvlist_get(&l, "A") + 1);
	CHECK_STR(deis_kvlist_get(&l, "A"), "ello");
	deis_kvlist_setn(&l, "A", deis_kvlist_get(&l, "A"), 2);
	CHECK_STR(deis_kvlist_get(&l, "A"), "el");
	deis_kvlist_clear(&l);
}

TEST(setn_length_and_newlines)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	const char *pem = "-----BEGIN X-----\nabc\n-----END X-----\nTRAILING";

	deis_kvlist_setn(&l, "PEM", pem, strlen(pem) - 8);
	CHECK_STR(deis_kvlist_get(&l, "PEM"),
		  "-----BEGIN X-----\nabc\n-----END X-----\n");
	deis_kvlist_setn(&l, "EMPTY", "ignored", 0);
	CHECK_STR(deis_kvlist_get(&l, "EMPTY"), "");
	deis_kvlist_clear(&l);
}

TEST(remove_keeps_order)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;

	deis_kvlist_set(&l, "A", "1");
	deis_kvlist_set(&l, "B", "2");
	deis_kvlist_set(&l, "C", "3");
	CHECK(deis_kvlist_remove(&l, "B") == 1);
	CHECK(deis_kvlist_remove(&l, "B") == 0);
	CHECK(deis_kvlist_remove(&l, "nope") == 0);
	CHECK(l.n == 2);
	CHECK_STR(l.items[0].key, "A");
	CHECK_STR(l.items[1].key, "C");
	CHECK(deis_kvlist_remove(&l, "C") == 1);
	CHECK(deis_kvlist_remove(&l, "A") == 1);
	CHECK(l.n == 0);
	deis_kvlist_set(&l, "D", "4");	/* usable after emptying */
	CHECK_STR(deis_kvlist_get(&l, "D"), "4");
	deis_kvlist_clear(&l);
}

TEST(sort_strcmp_order)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;

	deis_kvlist_set(&l, "b", "1");
	deis_kvlist_set(&l, "_", "2");
	deis_kvlist_set(&l, "B", "3");
	deis_kvlist_set(&l, "a", "4");
	deis_kvlist_set(&l, "A1", "5");
	deis_kvlist_sort(&l);
	CHECK_STR(l.items[0].key, "A1");
	CHECK_STR(l.items[1].key, "B");
	CHECK_STR(l.items[2].key, "_");
	CHECK_STR(l.items[3].key, "a");
	CHECK_STR(l.items[4].key, "b");
	CHECK_STR(l.items[4].value, "1");
	deis_kvlist_clear(&l);
	deis_kvlist_sort(&l);		/* empty list */
	CHECK(l.n == 0);
}

TEST(copy_replaces_destination)
{
	struct deis_kvlist a = DEIS_KVLIST_INIT, b = DEIS_KVLIST_INIT;

	deis_kvlist_set(&a, "X", "1");
	deis_kvlist_set(&a, "Y", "2");
	deis_kvlist_set(&b, "OLD", "gone");
	deis_kvlist_copy(&b, &a);
	CHECK(b.n == 2);
	CHECK(deis_kvlist_get(&b, "OLD") == NULL);
	CHECK_STR(b.items[0].key, "X");
	CHECK_STR(b.items[1].value, "2");
	/* Deep copy: changing a leaves b alone. */
	deis_kvlist_set(&a, "X", "changed");
	CHECK_STR(deis_kvlist_get(&b, "X"), "1");
	deis_kvlist_copy(&b, &b);	/* self copy is a no-op */
	CHECK(b.n == 2);
	deis_kvlist_clear(&a);
	deis_kvlist_copy(&b, &a);	/* copying an empty list empties */
	CHECK(b.n == 0);
	deis_kvlist_clear(&b);
}

TEST(equal_is_map_equality)
{
	struct deis_kvlist a = DEIS_KVLIST_INIT, b = DEIS_KVLIST_INIT;

	CHECK(deis_kvlist_equal(&a, &b));
	deis_kvlist_set(&a, "A", "1");
	CHECK(!deis_kvlist_equal(&a, &b));
	deis_kvlist_set(&a, "B", "2");
	deis_kvlist_set(&b, "B", "2");
	deis_kvlist_set(&b, "A", "1");
	CHECK(deis_kvlist_equal(&a, &b));	/* order ignored */
	deis_kvlist_set(&b, "A", "1 ");
	CHECK(!deis_kvlist_equal(&a, &b));	/* values matter */
	deis_kvlist_set(&b, "A", "1");
	deis_kvlist_remove(&b, "B");
	deis_kvlist_set(&b, "C", "2");
	CHECK(!deis_kvlist_equal(&a, &b));	/* keys matter */
	deis_kvlist_clear(&a);
	deis_kvlist_clear(&b);
}

TEST(many_items)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT, c = DEIS_KVLIST_INIT;
	char k[32], v[32];

	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "K%04d", 2999 - i);
		snprintf(v, sizeof(v), "%d", i);
		deis_kvlist_set(&l, k, v);
	}
	CHECK(l.n == 3000);
	CHECK_STR(deis_kvlist_get(&l, "K0000"), "2999");
	deis_kvlist_copy(&c, &l);
	deis_kvlist_sort(&c);
	CHECK_STR(c.items[0].key, "K0000");
	CHECK_STR(c.items[2999].key, "K2999");
	CHECK(deis_kvlist_equal(&l, &c));
	deis_kvlist_set(&c, "K1500", "x");
	CHECK(!deis_kvlist_equal(&l, &c));
	deis_kvlist_clear(&l);
	deis_kvlist_clear(&c);
}

TEST(strlist_basics)
{
	struct deis_strlist l = DEIS_STRLIST_INIT, c = DEIS_STRLIST_INIT;

	CHECK(!deis_strlist_has(&l, "a"));
	deis_strlist_add(&l, "b.example.com");
	deis_strlist_add(&l, "a.example.com");
	deis_strlist_add(&l, "a.example.com");	/* add does not dedupe */
	CHECK(l.n == 3);
	CHECK(deis_strlist_has(&l, "a.example.com"));
	CHECK(!deis_strlist_has(&l, "example.com"));
	deis_strlist_copy(&c, &l);
	CHECK(deis_strlist_equal(&c, &l));
	deis_strlist_sort(&c);
	CHECK_STR(c.items[0], "a.example.com");
	CHECK_STR(c.items[2], "b.example.com");
	CHECK(!deis_strlist_equal(&c, &l));	/* order matters */
	deis_strlist_clear(&l);
	CHECK(l.n == 0 && l.items == NULL);
	CHECK(!deis_strlist_equal(&c, &l));
	deis_strlist_copy(&c, &l);
	CHECK(c.n == 0);
	CHECK(deis_strlist_equal(&c, &l));
	deis_strlist_clear(&c);
}

TEST(strlist_copy_is_deep)
{
	struct deis_strlist a = DEIS_STRLIST_INIT, b = DEIS_STRLIST_INIT;
	char s[] = "alice";

	deis_strlist_add(&a, s);
	s[0] = 'X';
	CHECK_STR(a.items[0], "alice");
	deis_strlist_add(&b, "old");
	deis_strlist_copy(&b, &a);
	CHECK(b.n == 1);
	CHECK_STR(b.items[0], "alice");
	CHECK(b.items[0] != a.items[0]);
	deis_strlist_clear(&a);
	deis_strlist_clear(&b);
}

int main(void)
{
	RUN(set_get_replace);
	RUN(set_copies_strings);
	RUN(set_value_aliasing_itself);
	RUN(setn_length_and_newlines);
	RUN(remove_keeps_order);
	RUN(sort_strcmp_order);
	RUN(copy_replaces_destination);
	RUN(equal_is_map_equality);
	RUN(many_items);
	RUN(strlist_basics);
	RUN(strlist_copy_is_deep);
	return unit_done();
}
