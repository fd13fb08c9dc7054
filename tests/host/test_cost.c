/* sbhost cost model: exact picosecond sums, the accumulator that carries fractions of a ns, the
 * decimal number grammar, the default profile file agreeing with sb_cost_default, every loader
 * error with its exact message, and the writer's round trip and refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "sbhost/cost.h"

#ifndef SB_TEST_TMPDIR
#error "SB_TEST_TMPDIR must name a scratch directory"
#endif
#ifndef SB_COST_DEFAULT_INI
#error "SB_COST_DEFAULT_INI must name configs/cost-default.ini"
#endif

static const char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", SB_TEST_TMPDIR, name);
    return buf;
}

static sb_cost sample(void)
{
    return (sb_cost){.wake_ps = 1500000,
                     .poll_ps = 250000,
                     .socket_visit_ps = 40500,
                     .frame_ps = 2000001,
                     .byte_ps = 350,
                     .name = "sample",
                     .description = "a test profile"};
}

static void test_cost_ps_exact(void **state)
{
    (void)state;
    sb_cost c = sample();
    us_work w = {.wakeups = 3, .polls = 5, .socket_visits = 7, .frames = 11, .bytes = 1001};
    uint64_t want = 3 * 1500000ull + 5 * 250000ull + 7 * 40500ull + 11 * 2000001ull + 1001 * 350ull;
    assert_int_equal(sb_cost_ps(&c, &w), want);
    assert_int_equal(want, 28383861ull);
    assert_int_equal(sb_cost_of(&c, &w), 28383);
    us_work zero = {0};
    assert_int_equal(sb_cost_ps(&c, &zero), 0);
    us_work huge = {.bytes = UINT64_MAX / 2};
    assert_int_equal(sb_cost_ps(&c, &huge), UINT64_MAX); /* saturates */
}

static void test_cost_acc_carries_fractions(void **state)
{
    (void)state;
    sb_cost c = {.byte_ps = 400}; /* 0.4 ns per byte */
    us_work one_byte = {.bytes = 1};
    sb_cost_acc acc = {0};
    us_time clock = 0;
    for (int i = 1; i <= 1000; i++) {
        us_time adv = sb_cost_charge(&acc, &c, &one_byte);
        assert_true(adv <= 1);
        clock += adv;
        assert_int_equal(clock, (uint64_t)i * 400 / 1000); /* always floor(total / 1000) */
    }
    assert_int_equal(clock, 400);
    assert_int_equal(acc.ps, 400000);
    /* Charging one by one or in one go ends at the same time. */
    sb_cost_acc bulk = {0};
    us_work many = {.bytes = 1000};
    assert_int_equal(sb_cost_charge(&bulk, &c, &many), 400);
    /* sb_cost_of alone would have lost all of it. */
    assert_int_equal(sb_cost_of(&c, &one_byte), 0);
    assert_int_equal(sb_cost_acc_add(&acc, 999), 0);
    assert_int_equal(sb_cost_acc_add(&acc, 1), 1);
}

static void parse_ok(const char *s, uint64_t want)
{
    uint64_t ps = 12345;
    const char *why = NULL;
    if (sb_cost_parse_ns(s, &ps, &why) != SB_OK)
        fail_msg("'%s': %s", s, why);
    assert_int_equal(ps, want);
}

static void parse_bad(const char *s, const char *want_why)
{
    uint64_t ps = 12345;
    const char *why = NULL;
    assert_int_equal(sb_cost_parse_ns(s, &ps, &why), SB_EINVAL);
    assert_int_equal(ps, 12345);
    assert_string_equal(why, want_why);
}

static void test_cost_parse_ns(void **state)
{
    (void)state;
    parse_ok("0", 0);
    parse_ok("2", 2000);
    parse_ok("0.35", 350);
    parse_ok("0.001", 1);
    parse_ok("1234.5", 1234500);
    parse_ok("0.3500", 350);
    parse_ok("007", 7000);
    parse_ok("1000000000", 1000000000000ull);
    parse_bad("-1", "is negative");
    parse_bad("-0.5", "is negative");
    parse_bad("-x", "is not a decimal number");
    parse_bad("", "is not a decimal number");
    parse_bad("1.", "is not a decimal number");
    parse_bad(".5", "is not a decimal number");
    parse_bad("1e3", "is not a decimal number");
    parse_bad("+1", "is not a decimal number");
    parse_bad("1 2", "is not a decimal number");
    parse_bad("1.0001", "has more than 3 decimals (the resolution is 1 ps)");
    parse_bad("1000000000.001", "is above the limit of 1000000000 ns");
    parse_bad("99999999999999999999999", "is above the limit of 1000000000 ns");
}

static void test_cost_format_round_trip(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(sb_cost_format_ns(buf, sizeof buf, 0), "0");
    assert_string_equal(sb_cost_format_ns(buf, sizeof buf, 2000), "2");
    assert_string_equal(sb_cost_format_ns(buf, sizeof buf, 350), "0.35");
    assert_string_equal(sb_cost_format_ns(buf, sizeof buf, 1), "0.001");
    assert_string_equal(sb_cost_format_ns(buf, sizeof buf, 1234500), "1234.5");
    us_test_rng r = {.s = 3};
    for (int i = 0; i < 10000; i++) {
        uint64_t ps = us_test_rand(&r) % (SB_COST_MAX_NS * 1000 + 1);
        uint64_t back = 0;
        assert_int_equal(sb_cost_parse_ns(sb_cost_format_ns(buf, sizeof buf, ps), &back, NULL),
                         SB_OK);
        assert_int_equal(back, ps);
    }
}

static void assert_cost_equal(const sb_cost *a, const sb_cost *b)
{
    assert_int_equal(a->wake_ps, b->wake_ps);
    assert_int_equal(a->poll_ps, b->poll_ps);
    assert_int_equal(a->socket_visit_ps, b->socket_visit_ps);
    assert_int_equal(a->frame_ps, b->frame_ps);
    assert_int_equal(a->byte_ps, b->byte_ps);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->description, b->description);
}

static void test_cost_default_file_matches(void **state)
{
    (void)state;
    sb_cost file, builtin;
    sb_err err;
    if (sb_cost_load(&file, SB_COST_DEFAULT_INI, &err) != SB_OK)
        fail_msg("%s", err.msg);
    sb_cost_default(&builtin);
    assert_cost_equal(&file, &builtin);
}

#define VALID_TAIL "poll_ns = 1\nsocket_visit_ns = 1\nframe_ns = 1\nbyte_ns = 1\n"

static const char *good =
    "# a profile\n"
    "name = t1\n"
    "description = made for C#; tests   ; trailing comment\n"
    "wake_ns = 1.5   # inline\n"
    "  poll_ns=0.25\n"
    "socket_visit_ns = 0.045 ; other style\n"
    "\n"
    "frame_ns = 2000.001\n"
    "byte_ns = 0.35\n";

static void test_cost_parse_good(void **state)
{
    (void)state;
    sb_cost c;
    sb_err err;
    if (sb_cost_parse(&c, good, "t.ini", &err) != SB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(c.wake_ps, 1500);
    assert_int_equal(c.poll_ps, 250);
    assert_int_equal(c.socket_visit_ps, 45);
    assert_int_equal(c.frame_ps, 2000001);
    assert_int_equal(c.byte_ps, 350);
    assert_string_equal(c.name, "t1");
    /* '#' and ';' start a comment only at the start or after a blank. */
    assert_string_equal(c.description, "made for C#; tests");
    /* A UTF-8 byte order mark is skipped; CRLF line ends are fine. */
    char bom[512];
    snprintf(bom, sizeof bom, "\xEF\xBB\xBFname = b\r\nwake_ns = 1\r\n%s", VALID_TAIL);
    if (sb_cost_parse(&c, bom, "bom.ini", &err) != SB_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(c.name, "b");
}

/* Parse text and expect a failure with exactly this message; *c must be left alone. */
static void expect_error(const char *text, sb_status st, const char *msg)
{
    sb_cost c = sample(), before = sample();
    sb_err err = {{0}};
    assert_int_equal(sb_cost_parse(&c, text, "t.ini", &err), st);
    assert_string_equal(err.msg, msg);
    assert_cost_equal(&c, &before);
}

static void test_cost_parse_errors(void **state)
{
    (void)state;
    expect_error("name = x\nwake = 5\n", SB_EFORMAT, "t.ini:2: unknown key 'wake'");
    expect_error("name = x\nwake_ns = fast\n" VALID_TAIL, SB_EFORMAT,
                 "t.ini:2: wake_ns: 'fast' is not a decimal number");
    expect_error("name = x\n\nwake_ns = -3 # negative\n" VALID_TAIL, SB_EFORMAT,
                 "t.ini:3: wake_ns: '-3' is negative");
    expect_error("name = x\nwake_ns = 1\n" VALID_TAIL "byte_ns = 2\n", SB_EFORMAT,
                 "t.ini:7: 'byte_ns' given twice (first on line 6)");
    expect_error("name = x\nwake_ns = 1\npoll_ns = 1\nsocket_visit_ns = 1\nbyte_ns = 1\n",
                 SB_EFORMAT, "t.ini: missing key 'frame_ns'");
    expect_error("wake_ns = 1\n" VALID_TAIL, SB_EFORMAT, "t.ini: missing key 'name'");
    expect_error("", SB_EFORMAT, "t.ini: missing key 'name'");
    expect_error("name = x\nwake_ns 5\n", SB_EFORMAT, "t.ini:2: expected 'key = value'");
    expect_error("[cost]\nname = x\n", SB_EFORMAT,
                 "t.ini:1: unexpected section '[cost]': a profile has no sections");
    expect_error("name =\n", SB_EFORMAT, "t.ini:1: name: empty");
    expect_error("name = x\nbyte_ns = 0.0001\n", SB_EFORMAT,
                 "t.ini:2: byte_ns: '0.0001' has more than 3 decimals (the resolution is 1 ps)");
    expect_error("name = x\nframe_ns = 2000000000\n", SB_EFORMAT,
                 "t.ini:2: frame_ns: '2000000000' is above the limit of 1000000000 ns");
    /* The first problem in the file wins, whoever finds it. */
    expect_error("name = x\nbad line\nwake = 1\n", SB_EFORMAT, "t.ini:2: expected 'key = value'");
    expect_error("name = x\nwake = 1\nbad line\n", SB_EFORMAT, "t.ini:2: unknown key 'wake'");

    char longname[200];
    memset(longname, 'n', sizeof longname);
    memcpy(longname, "name = ", 7);
    longname[7 + 64] = '\0';
    expect_error(longname, SB_EFORMAT, "t.ini:1: name: longer than 63 characters");

    char *huge = malloc(2100);
    assert_non_null(huge);
    memset(huge, 'x', 2099);
    huge[2099] = '\0';
    expect_error(huge, SB_EFORMAT, "t.ini:1: line longer than 1023 characters");
    memcpy(huge, "name = x # ", 11); /* the same length, but mostly comment: fine */
    sb_cost c;
    assert_int_equal(sb_cost_parse(&c, huge, "t.ini", NULL), SB_EFORMAT); /* missing keys */
    free(huge);

    char line[300];
    snprintf(line, sizeof line, "description = %0*d\n", 190, 0);
    expect_error(line, SB_EFORMAT, "t.ini:1: line longer than 197 characters (comments aside)");
}

static void test_cost_load_errors(void **state)
{
    (void)state;
    char path[512];
    sb_err err;
    sb_cost c = sample(), before = sample();
    tmp_path(path, "does-not-exist.ini");
    assert_int_equal(sb_cost_load(&c, path, &err), SB_EIO);
    char want[1024];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err.msg, want);
    assert_cost_equal(&c, &before);

    /* A directory opens but cannot be read. */
    assert_int_equal(sb_cost_load(&c, SB_TEST_TMPDIR, &err), SB_EIO);
    snprintf(want, sizeof want, "%s: read error: Is a directory", SB_TEST_TMPDIR);
    assert_string_equal(err.msg, want);

    /* Messages name the file given. */
    tmp_path(path, "bad.ini");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("name = x\r\nwake_ns = 1\r\npoll_ns = slow\r\n", f);
    fclose(f);
    assert_int_equal(sb_cost_load(&c, path, &err), SB_EFORMAT);
    snprintf(want, sizeof want, "%s:3: poll_ns: 'slow' is not a decimal number", path);
    assert_string_equal(err.msg, want);
    unlink(path);
}

static void test_cost_write_round_trip(void **state)
{
    (void)state;
    char path[512], tmp[600];
    sb_err err;
    tmp_path(path, "written.ini");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    sb_cost c = sample(), back;
    const char *comments = "measured by stackbench calibrate\n\nsecond paragraph; with # signs";
    if (sb_cost_write(path, &c, comments, &err) != SB_OK)
        fail_msg("%s", err.msg);
    assert_int_not_equal(access(tmp, F_OK), 0);
    if (sb_cost_load(&back, path, &err) != SB_OK)
        fail_msg("%s", err.msg);
    assert_cost_equal(&back, &c);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[2048];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "# measured by stackbench calibrate\n#\n# second paragraph"));
    assert_non_null(strstr(text, "socket_visit_ns = 40.5 "));
    assert_non_null(strstr(text, "frame_ns        = 2000.001 "));
    assert_non_null(strstr(text, "byte_ns         = 0.35 "));

    /* Empty description: not written, read back empty. */
    c.description[0] = '\0';
    assert_int_equal(sb_cost_write(path, &c, NULL, &err), SB_OK);
    assert_int_equal(sb_cost_load(&back, path, &err), SB_OK);
    assert_cost_equal(&back, &c);
    unlink(path);
}

static void test_cost_write_refusals(void **state)
{
    (void)state;
    char path[512];
    sb_err err;
    tmp_path(path, "refused.ini");
    unlink(path);
    sb_cost c = sample();
    strcpy(c.name, "a#b");
    assert_int_equal(sb_cost_write(path, &c, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg,
                        "cost profile name: must not contain '#', ';' or a line break");
    c = sample();
    strcpy(c.description, "two\nlines");
    assert_int_equal(sb_cost_write(path, &c, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg,
                        "cost profile description: must not contain '#', ';' or a line break");
    c = sample();
    c.name[0] = '\0';
    assert_int_equal(sb_cost_write(path, &c, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "cost profile name: empty");
    c = sample();
    strcpy(c.name, " x");
    assert_int_equal(sb_cost_write(path, &c, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "cost profile name: leading or trailing blanks");
    c = sample();
    c.byte_ps = SB_COST_MAX_NS * 1000 + 1;
    assert_int_equal(sb_cost_write(path, &c, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "cost profile byte_ns: above the limit of 1000000000 ns");
    assert_int_not_equal(access(path, F_OK), 0);

    /* A directory that does not exist: nothing is left behind, the message says why. */
    c = sample();
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no-such-dir/x.ini", SB_TEST_TMPDIR);
    assert_int_equal(sb_cost_write(bad, &c, NULL, &err), SB_EIO);
    char want[1024];
    snprintf(want, sizeof want, "%s.tmp: cannot create: No such file or directory", bad);
    assert_string_equal(err.msg, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_ps_exact),
        cmocka_unit_test(test_cost_acc_carries_fractions),
        cmocka_unit_test(test_cost_parse_ns),
        cmocka_unit_test(test_cost_format_round_trip),
        cmocka_unit_test(test_cost_default_file_matches),
        cmocka_unit_test(test_cost_parse_good),
        cmocka_unit_test(test_cost_parse_errors),
        cmocka_unit_test(test_cost_load_errors),
        cmocka_unit_test(test_cost_write_round_trip),
        cmocka_unit_test(test_cost_write_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
