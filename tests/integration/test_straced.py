"""straced.joined: the trace helper that the system-call counting tests rely on
puts back together the calls strace split when another thread's call came
between their start and their end. Without it a count misses the split calls
(the ASan run of stop 22's CI counted 2 of 3 MADV_HUGEPAGE calls so)."""
import unittest

import straced


class JoinedTest(unittest.TestCase):
    def test_split_call_becomes_one_line_in_its_first_half_place(self):
        raw = ["10  madvise(0x7f00, 2097152, MADV_HUGEPAGE <unfinished ...>",
               "11  read(3, \"\", 5) = 0",
               "10  <... madvise resumed>) = 0"]
        self.assertEqual(straced.joined(raw),
                         ["10  madvise(0x7f00, 2097152, MADV_HUGEPAGE) = 0",
                          "11  read(3, \"\", 5) = 0"])

    def test_halves_pair_by_thread(self):
        raw = ["10  accept4(5 <unfinished ...>",
               "11  epoll_wait(4 <unfinished ...>",
               "11  <... epoll_wait resumed>, [], 64, 100) = 0",
               "10  <... accept4 resumed>, NULL, NULL, SOCK_NONBLOCK) = 7"]
        self.assertEqual(straced.joined(raw),
                         ["10  accept4(5, NULL, NULL, SOCK_NONBLOCK) = 7",
                          "11  epoll_wait(4, [], 64, 100) = 0"])

    def test_earlier_lines_keep_their_index_as_the_trace_grows(self):
        """Tests take len(lines) at one moment and slice a later read there."""
        early = ["10  futex(0x5 <unfinished ...>", "11  close(3) = 0"]
        later = early + ["12  close(4) = 0", "10  <... futex resumed>) = 0"]
        before = len(straced.joined(early))
        self.assertEqual(straced.joined(later)[before:], ["12  close(4) = 0"])

    def test_halves_of_other_calls_stay_apart(self):
        """A resumed half of another name (an execve finishing under the
        leader's id) and the signal and exit lines strace writes between."""
        raw = ["10  wait4(-1 <unfinished ...>",
               "10  --- SIGCHLD {si_signo=SIGCHLD} ---",
               "10  <... execve resumed>) = 0",
               "10  <... wait4 resumed>, NULL, 0, NULL) = 12",
               "12  +++ exited with 0 +++"]
        self.assertEqual(straced.joined(raw),
                         ["10  wait4(-1, NULL, 0, NULL) = 12",
                          "10  --- SIGCHLD {si_signo=SIGCHLD} ---",
                          "10  <... execve resumed>) = 0",
                          "12  +++ exited with 0 +++"])

    def test_half_without_partner_stays(self):
        raw = ["12  <... accept4 resumed>, NULL, SOCK_NONBLOCK) = 7",
               "13  futex(0x5, FUTEX_WAIT <unfinished ...>"]
        self.assertEqual(straced.joined(raw), raw)


if __name__ == "__main__":
    unittest.main()
