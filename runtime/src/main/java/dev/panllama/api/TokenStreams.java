package dev.panllama.api;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.SubmissionPublisher;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/** Adapts a generation that pushes text pieces into pull-style {@link Stream}s and {@link Flow.Publisher}s. */
final class TokenStreams {

    /** Runs a generation, pushing its text to the sink. */
    @FunctionalInterface
    interface Producer {
        void run(Consumer<String> sink);
    }

    private static final Object END = new Object();

    private TokenStreams() {
    }

    /**
     * A stream fed by a generation on a virtual thread, one piece ahead at most; closing the stream
     * cancels the generation.
     */
    static Stream<String> stream(Producer producer, Runnable cancel) {
        BlockingQueue<Object> queue = new ArrayBlockingQueue<>(1);
        Thread worker = Thread.ofVirtual().name("panllama-generation").start(() -> {
            try {
                producer.run(piece -> put(queue, piece));
                put(queue, END);
            } catch (RuntimeException e) {
                put(queue, e);
            }
        });
        Iterator<String> pieces = new Iterator<>() {
            private Object next;

            @Override
            public boolean hasNext() {
                if (next == null) {
                    try {
                        next = queue.take();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        cancel.run();
                        return false;
                    }
                }
                if (next instanceof RuntimeException failure) {
                    throw failure;
                }
                return next != END;
            }

            @Override
            public String next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                String piece = (String) next;
                next = null;
                return piece;
            }
        };
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(pieces, Spliterator.ORDERED | Spliterator.NONNULL), false)
                .onClose(() -> {
                    cancel.run();
                    worker.interrupt();
                });
    }

    private static void put(BlockingQueue<Object> queue, Object item) {
        try {
            queue.put(item);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("the stream was closed", e);
        }
    }

    /** A publisher that runs the generation when subscribed; cancelling the subscription cancels it. */
    static Flow.Publisher<String> publisher(Producer producer, Runnable cancel) {
        return subscriber -> {
            SubmissionPublisher<String> publisher = new SubmissionPublisher<>();
            publisher.subscribe(new Flow.Subscriber<>() {
                @Override
                public void onSubscribe(Flow.Subscription subscription) {
                    subscriber.onSubscribe(new Flow.Subscription() {
                        @Override
                        public void request(long n) {
                            subscription.request(n);
                        }

                        @Override
                        public void cancel() {
                            cancel.run();
                            subscription.cancel();
                        }
                    });
                }

                @Override
                public void onNext(String item) {
                    subscriber.onNext(item);
                }

                @Override
                public void onError(Throwable throwable) {
                    subscriber.onError(throwable);
                }

                @Override
                public void onComplete() {
                    subscriber.onComplete();
                }
            });
            Thread.ofVirtual().name("panllama-generation").start(() -> {
                try {
                    producer.run(publisher::submit);
                    publisher.close();
                } catch (RuntimeException e) {
                    publisher.closeExceptionally(e);
                }
            });
        };
    }
}
