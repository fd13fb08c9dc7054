/* Fuzzing findings in core, each reduced to a two-stack test (netpair) that stays as a regression
 * test once fixed. The fuzz input that found each is in tests/fuzz/crashes/ (and the corpus).
 *
 *   1. fin-wait-2-orphan: a connection the application released in FIN_WAIT_2 never went away
 *      when the peer acknowledged our FIN but never sent its own: the TCP slot stayed taken. Fixed
 *      by the orphan FIN_WAIT_2 timeout (us_stack_config.tcp_fin_wait2_timeout, as Linux's
 *      tcp_fin_timeout). */

#include "netpair.h"
#include "stack_internal.h"

#define SEC 1000000000ull

static void test_fuzz_finding_fin_wait_2_orphan(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_time now = 0;
    us_sock l = us_tcp_open(a->s);
    assert_int_equal(us_tcp_listen(a->s, l, 80, 1), US_OK);
    us_sock hb = us_tcp_open(b->s);
    assert_int_equal(us_tcp_connect(b->s, hb, NP_IP_A, 80, 0, now), US_OK);
    np_exchange(a, b, now);
    us_sock ha = us_tcp_accept(a->s, l);
    assert_true(ha >= 0);
    /* A closes; B acknowledges the FIN and stays in CLOSE_WAIT, then goes silent for good. */
    assert_int_equal(us_tcp_close(a->s, ha), US_OK);
    for (int i = 0; i < 10; i++) {
        now += SEC / 10;
        np_exchange(a, b, now);
    }
    assert_int_equal(us_tcp_get_state(a->s, ha), US_TCP_FIN_WAIT_2);
    assert_int_equal(us_tcp_get_state(b->s, hb), US_TCP_CLOSE_WAIT);
    uint32_t slot = (uint32_t)ha - a->s->udp_n;
    assert_int_equal(us_tcp_release(a->s, ha), US_OK);
    /* An hour passes with nothing from B: A's orphan must have given its slot back. */
    for (int i = 0; i < 100; i++) {
        us_time at = us_poll_at(a->s, now);
        if (at == US_TIME_NEVER || at > now + 3600 * SEC)
            break;
        now = at > now ? at : now;
        us_egress(a->s, now, US_EGRESS_ALL);
        np_tx_clear(a);
    }
    us_egress(a->s, now + 3600 * SEC, US_EGRESS_ALL);
    np_tx_clear(a);
    assert_false(a->s->tcp[slot].in_use);
    /* Clean up what is left whatever the outcome above. */
    us_tcp_abort(b->s, hb, now);
    us_tcp_release(b->s, hb);
    us_tcp_release(a->s, l);
    np_tx_clear(b);
    np_free(a);
    np_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_finding_fin_wait_2_orphan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
