/* x86_64, freestanding: a program with PT_INTERP but an empty PT_DYNAMIC (no .dynamic at all),
   two note sections of different alignment and, with empty-note.ld, an empty PT_NOTE. Linked
   at address 0 as ET_EXEC, its PT_DYNAMIC's address is 0 and the loader takes it for "no
   dynamic section": it exits 0 through the interpreter. The test also makes an ET_DYN of it,
   the shape patchelf's own fixtures have (which the loader cannot run). */
struct peer_note4 { unsigned namesz, descsz, type; char name[8]; unsigned desc; };
struct peer_note8 { unsigned namesz, descsz, type; char name[12]; unsigned desc, pad; };
__attribute__((section(".note.peer.a"), used, aligned(4)))
static const struct peer_note4 note_a = {5, 4, 1, "peer", 1};
__attribute__((section(".note.peer.b"), used, aligned(8)))
static const struct peer_note8 note_b = {9, 4, 1, "peer-two", 2, 0};
__attribute__((section(".interp"), used))
static const char interp[] = "/lib64/ld-linux-x86-64.so.2";
void _start(void) { __asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall"); }
