/* Room for a copy of the program header table (the test moves the table there, so that it
   ends exactly where peer_after_pht begins), and data right after it that must survive. */
__attribute__((section(".peer_pht"), used, aligned(8)))
const char peer_pht_room[1024] = {0};
__attribute__((section(".peer_after_pht"), used, aligned(1)))
const char peer_after_pht[16] = {'0', '1', '2', '3', '4', '5', '6', '7',
                                 '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
int peer_pht_value(void) { return peer_after_pht[3]; }
