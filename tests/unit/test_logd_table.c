/*
 * test_logd_table.c - unit tests for deis-logd's hash table of per-app
 * state (daemons/logd/table.c): entries named by an app and a source,
 * found again, walked once each, and removed by app.
 */
#include <stdlib.h>

#include "../../daemons/logd/logd.h"
#include "unit.h"

struct item {
	struct logd_entry e;
	int value;
};

static int released;

static void release(void *entry)
{
	released += ((struct item *)entry)->value;
}

TEST(table_names_an_entry_by_app_and_source)
{
	struct logd_table *t = calloc(1, sizeof(*t));
	struct item *a, *b, *c;

	t->size = sizeof(struct item);
	CHECK(logd_table_find(t, "web", NULL) == NULL);
	a = logd_table_add(t, "web", NULL);
	b = logd_table_add(t, "web", "web.1");
	c = logd_table_add(t, "api", "web.1");
	CHECK(a && b && c && a != b && b != c);
	CHECK(a->value == 0 && b->e.src && !a->e.src);
	CHECK(logd_table_find(t, "web", NULL) == a);
	CHECK(logd_table_find(t, "web", "web.1") == b);
	CHECK(logd_table_find(t, "api", "web.1") == c);
	CHECK(logd_table_find(t, "api", NULL) == NULL);
	CHECK(logd_table_find(t, "web", "web.2") == NULL);
	logd_table_remove(t, NULL);
	free(t);
}

TEST(table_walks_every_entry_once)
{
	struct logd_table *t = calloc(1, sizeof(*t));
	char name[32];
	int seen = 0, sum = 0;

	t->size = sizeof(struct item);
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "app%d", i);
		struct item *it = logd_table_add(t, name, i % 2 ? "build.1" : NULL);
		it->value = i;
	}
	for (struct item *it = NULL; (it = logd_table_next(t, it));) {
		seen++;
		sum += it->value;
	}
	CHECK(seen == 10000);
	CHECK(sum == 10000 * 9999 / 2);
	logd_table_remove(t, NULL);
	CHECK(logd_table_next(t, NULL) == NULL);
	free(t);
}

TEST(table_removes_an_app_whatever_its_source)
{
	struct logd_table *t = calloc(1, sizeof(*t));
	int left = 0;

	t->size = sizeof(struct item);
	t->release = release;
	((struct item *)logd_table_add(t, "web", NULL))->value = 1;
	((struct item *)logd_table_add(t, "web", "web.1"))->value = 2;
	((struct item *)logd_table_add(t, "web", "build.4"))->value = 4;
	((struct item *)logd_table_add(t, "webx", NULL))->value = 8;
	released = 0;
	logd_table_remove(t, "web");
	CHECK(released == 7);
	CHECK(logd_table_find(t, "web", "web.1") == NULL);
	CHECK(logd_table_find(t, "webx", NULL) != NULL);
	for (struct item *it = NULL; (it = logd_table_next(t, it));)
		left++;
	CHECK(left == 1);
	logd_table_remove(t, NULL);
	CHECK(released == 15);
	free(t);
}

int main(void)
{
	RUN(table_names_an_entry_by_app_and_source);
	RUN(table_walks_every_entry_once);
	RUN(table_removes_an_app_whatever_its_source);
	return unit_done();
}
