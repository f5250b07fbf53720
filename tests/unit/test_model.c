/* test_model.c - a release's status and the live release (lib/model.c). */
#include <stdlib.h>
#include <string.h>

#include "deis/model.h"
#include "unit.h"

/* An app built by hand: releases v1..vn (created at version * 100),
 * builds, rollouts; freed with deis_app_free(). */
static struct deis_app *app_new(void)
{
	struct deis_app *a = calloc(1, sizeof(*a));

	a->refs = 1;
	a->name = strdup("hello");
	a->owner = strdup("alice");
	return a;
}

/* Build number n, with an image or not (a build recorded without one). */
static void add_build(struct deis_app *a, int n, int image)
{
	a->builds = realloc(a->builds, (a->nbuilds + 1) * sizeof(*a->builds));
	struct deis_build *b = &a->builds[a->nbuilds++];
	memset(b, 0, sizeof(*b));
	b->id = n * 10;
	b->number = n;
	b->owner = strdup("alice");
	b->commit = strdup("1a2b3c4");
	b->status = strdup("succeeded");
	b->image = strdup(image ? "hello@sha256:00" : "");
	b->log = strdup("");
}

/* The next release, on build (0: none). */
static void add_release(struct deis_app *a, int build)
{
	a->releases = realloc(a->releases, (a->nreleases + 1) * sizeof(*a->releases));
	struct deis_release *r = calloc(1, sizeof(*r));
	r->refs = 1;
	r->version = (int)a->nreleases + 1;
	r->created = r->version * 100;
	r->owner = strdup("alice");
	r->summary = strdup("alice changed something");
	r->build_number = build;
	r->build_id = build * 10;
	a->releases[a->nreleases++] = r;
}

/* A verdict, in version order as the database gives them; one per version. */
static void set_rollout(struct deis_app *a, int version, const char *state,
			const char *reason, int64_t when)
{
	for (size_t i = 0; i < a->nrollouts; i++)
		if (a->rollouts[i].version == version) {
			free(a->rollouts[i].state);
			free(a->rollouts[i].reason);
			a->rollouts[i].state = strdup(state);
			a->rollouts[i].reason = strdup(reason);
			a->rollouts[i].updated = when;
			return;
		}
	a->rollouts = realloc(a->rollouts, (a->nrollouts + 1) * sizeof(*a->rollouts));
	struct deis_rollout *ro = &a->rollouts[a->nrollouts++];
	ro->version = version;
	ro->state = strdup(state);
	ro->reason = strdup(reason);
	ro->updated = when;
}

static const char *status_of(const struct deis_app *a, int version, int64_t *since)
{
	return deis_release_status_name(deis_release_status(a, deis_app_release(a, version),
							    since));
}

TEST(no_releases)
{
	struct deis_app *a = app_new();

	CHECK(deis_app_live(a) == NULL);
	CHECK(deis_app_current(a) == NULL);
	CHECK(deis_app_rollout(a, 1) == NULL);
	deis_app_free(a);
}

TEST(config_before_the_first_build_is_live_at_once)
{
	struct deis_app *a = app_new();
	int64_t since = -1;

	add_release(a, 0);
	add_release(a, 0);
	CHECK(deis_app_live(a)->version == 2);
	CHECK_STR(status_of(a, 2, &since), "deployed");
	CHECK(since == 200);
	CHECK_STR(status_of(a, 1, &since), "superseded");
	CHECK(since == 100);
	deis_app_free(a);
}

TEST(a_build_is_pending_until_the_scheduler_deploys_it)
{
	struct deis_app *a = app_new();
	int64_t since = -1;

	add_release(a, 0);
	add_build(a, 1, 1);
	add_release(a, 1);
	CHECK(deis_app_live(a)->version == 1);
	CHECK(deis_app_current(a)->version == 2);
	CHECK_STR(status_of(a, 2, &since), "pending");
	CHECK(since == 0);
	CHECK_STR(status_of(a, 1, NULL), "deployed");

	/* Its release phase passed: still not live. */
	set_rollout(a, 2, "released", "", 250);
	CHECK_STR(status_of(a, 2, NULL), "pending");
	CHECK(deis_app_live(a)->version == 1);

	set_rollout(a, 2, "deployed", "", 270);
	CHECK(deis_app_live(a)->version == 2);
	CHECK_STR(status_of(a, 2, &since), "deployed");
	CHECK(since == 270);
	CHECK_STR(status_of(a, 1, NULL), "superseded");
	deis_app_free(a);
}

TEST(a_failed_release_keeps_the_live_one_and_its_reason)
{
	struct deis_app *a = app_new();
	int64_t since = -1;

	add_release(a, 0);
	add_build(a, 1, 1);
	add_release(a, 1);
	set_rollout(a, 2, "deployed", "", 250);
	add_release(a, 1);	/* v3: a config change */
	set_rollout(a, 3, "failed", "its release command exited with status 1", 350);
	CHECK(deis_app_live(a)->version == 2);
	CHECK(deis_app_current(a)->version == 3);
	CHECK_STR(status_of(a, 3, &since), "failed");
	CHECK(since == 0);
	CHECK_STR(deis_app_rollout(a, 3)->reason, "its release command exited with status 1");
	CHECK_STR(status_of(a, 2, NULL), "deployed");

	/* A newer one goes live: the failed one stays failed. */
	add_release(a, 1);
	set_rollout(a, 4, "deployed", "", 450);
	CHECK_STR(status_of(a, 3, NULL), "failed");
	CHECK_STR(status_of(a, 2, &since), "superseded");
	CHECK(since == 250);	/* it went live once */
	CHECK_STR(status_of(a, 4, NULL), "deployed");
	deis_app_free(a);
}

TEST(a_release_skipped_by_a_newer_one_is_superseded)
{
	struct deis_app *a = app_new();

	add_release(a, 0);
	add_build(a, 1, 1);
	add_release(a, 1);
	add_release(a, 1);
	add_release(a, 1);
	set_rollout(a, 4, "deployed", "", 450);
	CHECK_STR(status_of(a, 2, NULL), "superseded");
	CHECK_STR(status_of(a, 3, NULL), "superseded");
	CHECK_STR(status_of(a, 4, NULL), "deployed");
	deis_app_free(a);
}

TEST(a_deployed_release_failed_later_gives_way_to_the_previous)
{
	/* web.1 of v3 up (deployed), web.2 never answers: the scheduler fails
	 * v3 and v2 serves again. */
	struct deis_app *a = app_new();

	add_release(a, 0);
	add_build(a, 1, 1);
	add_release(a, 1);
	set_rollout(a, 2, "deployed", "", 250);
	add_release(a, 1);
	set_rollout(a, 3, "deployed", "", 350);
	CHECK(deis_app_live(a)->version == 3);
	set_rollout(a, 3, "failed", "web.2 did not answer its health check within 60 s", 400);
	CHECK(deis_app_live(a)->version == 2);
	CHECK_STR(status_of(a, 2, NULL), "deployed");
	CHECK_STR(status_of(a, 3, NULL), "failed");
	deis_app_free(a);
}

TEST(a_build_without_an_image_has_nothing_to_run)
{
	struct deis_app *a = app_new();
	int64_t since = 0;

	add_release(a, 0);
	add_build(a, 1, 0);
	add_release(a, 1);
	CHECK(deis_app_live(a)->version == 2);
	CHECK_STR(status_of(a, 2, &since), "deployed");
	CHECK(since == 200);
	deis_app_free(a);
}

TEST(rollouts_are_found_by_version)
{
	struct deis_app *a = app_new();

	set_rollout(a, 2, "released", "", 1);
	set_rollout(a, 5, "failed", "x", 2);
	set_rollout(a, 9, "deployed", "", 3);
	CHECK_STR(deis_app_rollout(a, 5)->state, "failed");
	CHECK_STR(deis_app_rollout(a, 9)->state, "deployed");
	CHECK_STR(deis_app_rollout(a, 2)->state, "released");
	CHECK(deis_app_rollout(a, 1) == NULL);
	CHECK(deis_app_rollout(a, 6) == NULL);
	CHECK(deis_app_rollout(a, 10) == NULL);
	deis_app_free(a);
}

TEST(status_names)
{
	CHECK_STR(deis_release_status_name(DEIS_STATUS_PENDING), "pending");
	CHECK_STR(deis_release_status_name(DEIS_STATUS_DEPLOYED), "deployed");
	CHECK_STR(deis_release_status_name(DEIS_STATUS_FAILED), "failed");
	CHECK_STR(deis_release_status_name(DEIS_STATUS_SUPERSEDED), "superseded");
}

int main(void)
{
	RUN(no_releases);
	RUN(config_before_the_first_build_is_live_at_once);
	RUN(a_build_is_pending_until_the_scheduler_deploys_it);
	RUN(a_failed_release_keeps_the_live_one_and_its_reason);
	RUN(a_release_skipped_by_a_newer_one_is_superseded);
	RUN(a_deployed_release_failed_later_gives_way_to_the_previous);
	RUN(a_build_without_an_image_has_nothing_to_run);
	RUN(rollouts_are_found_by_version);
	RUN(status_names);
	return unit_done();
}
