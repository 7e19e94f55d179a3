package dev.llamajava;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * An owned native pointer: closing twice is safe, any use after close throws
 * {@link IllegalStateException}, a {@link Cleaner} frees what a user forgot (with a warning), and
 * the pointer is never freed while a call that acquired it is still running: close marks the handle
 * closed and the last user frees it.
 */
abstract class NativeResource implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.llamajava");
    static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "llama-java-cleaner");
        t.setDaemon(true);
        return t;
    });
    private static final int CLOSED = 1 << 30;

    /** State shared with the cleaner; must not reference the owner. */
    private static final class State implements Runnable {
        final String kind;
        final MemorySegment ptr;
        final Consumer<MemorySegment> free;
        final AtomicBoolean freed = new AtomicBoolean();
        final AtomicInteger users = new AtomicInteger();
        volatile boolean explicit;

        State(String kind, MemorySegment ptr, Consumer<MemorySegment> free) {
            this.kind = kind;
            this.ptr = ptr;
            this.free = free;
        }

        @Override
        public void run() {
            if (!freed.compareAndSet(false, true)) return;
            if (!explicit) LOG.log(System.Logger.Level.WARNING, kind + " was not closed; the cleaner freed it");
            try {
                free.accept(ptr);
            } catch (Throwable t) {
                LOG.log(System.Logger.Level.ERROR, "freeing " + kind + " failed", t);
            }
        }
    }

    private final State state;
    private final Cleaner.Cleanable cleanable;
    private final boolean exclusive;

    /**
     * @param kind      the type name used in messages
     * @param ptr       the native pointer (not NULL)
     * @param free      frees it, exactly once
     * @param exclusive whether at most one thread may use it at a time
     */
    NativeResource(String kind, MemorySegment ptr, Consumer<MemorySegment> free, boolean exclusive) {
        this.state = new State(kind, ptr, free);
        this.cleanable = CLEANER.register(this, state);
        this.exclusive = exclusive;
    }

    /** Marks the start of a native call; pair with {@link #release()} in a finally block. */
    final MemorySegment acquire() {
        AtomicInteger users = state.users;
        for (;;) {
            int c = users.get();
            if ((c & CLOSED) != 0) throw new IllegalStateException(state.kind + " is closed");
            if (exclusive && c != 0) {
                throw new IllegalStateException(state.kind + " is in use by another thread; a " + state.kind
                        + " may be used by one thread at a time");
            }
            if (users.compareAndSet(c, c + 1)) return state.ptr;
        }
    }

    /** Ends a native call started by {@link #acquire()}. */
    final void release() {
        if (state.users.decrementAndGet() == CLOSED) {
            state.explicit = true;
            cleanable.clean();
        }
    }

    /** @return whether {@link #close()} was called */
    public final boolean isClosed() {
        return (state.users.get() & CLOSED) != 0;
    }

    /** Called when close is requested while a call is running (to abort it); default does nothing. */
    void onCloseWhileInUse() { }

    /** Frees the native object now, or when the running call ends. Safe to call more than once. */
    @Override
    public void close() {
        AtomicInteger users = state.users;
        for (;;) {
            int c = users.get();
            if ((c & CLOSED) != 0) return;
            if (users.compareAndSet(c, c | CLOSED)) {
                if (c == 0) {
                    state.explicit = true;
                    cleanable.clean();
                } else {
                    onCloseWhileInUse();
                }
                return;
            }
        }
    }
}
