package dev.panllama.cli;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UnitsTest {

    private static Locale saved;

    /** Units formats in the default locale, as the commands always have; these strings are the English ones. */
    @BeforeAll
    static void english() {
        saved = Locale.getDefault();
        Locale.setDefault(Locale.ROOT);
    }

    @AfterAll
    static void restore() {
        Locale.setDefault(saved);
    }

    @Test
    void bytesInMebibytesBelowAGibibyteThenGibibytes() {
        assertEquals("0.00 MiB", Units.bytes(0));
        assertEquals("7.46 MiB", Units.bytes(7_822_000));
        assertEquals("1024.00 MiB", Units.bytes((1L << 30) - 1));
        assertEquals("1.00 GiB", Units.bytes(1L << 30));
        assertEquals("1.50 GiB", Units.bytes(3L << 29));
        assertEquals("2048.00 GiB", Units.bytes(1L << 41));
    }

    @Test
    void deviceMemoryToATenthOfAGibibyte() {
        assertEquals("0.0 GiB", Units.gibibytes(0));
        assertEquals("23.6 GiB", Units.gibibytes(25_340_000_000L));
        assertEquals("1.0 GiB", Units.gibibytes(1L << 30));
    }

    @Test
    void countsInMillionsBelowABillionThenBillions() {
        assertEquals("0.00 M", Units.count(0));
        assertEquals("0.70 M", Units.count(700_000));
        assertEquals("999.99 M", Units.count(999_990_000));
        assertEquals("1.00 B", Units.count(1_000_000_000L));
        assertEquals("108.64 B", Units.count(108_642_000_000L));
    }

    @Test
    void secondsToATenth() {
        assertEquals("0.0 s", Units.seconds(0));
        assertEquals("1.5 s", Units.seconds(1.46));
        assertEquals("125.0 s", Units.seconds(125));
    }

    @Test
    void secondsSinceAStartIsNotNegative() {
        long start = System.nanoTime();
        double elapsed = Units.secondsSince(start);
        assertTrue(elapsed >= 0 && elapsed < 60, String.valueOf(elapsed));
    }

    @Test
    void tokensAndTheirSpeed() {
        assertEquals("12 tokens, 34.6 t/s", Units.tokens(12, 34.56));
        assertEquals("0 tokens, 0.0 t/s", Units.tokens(0, 0));
    }

    @Test
    void speedAndDeviationAsLlamaBenchPrintsThem() {
        assertEquals("123.46 ± 6.79", Units.spread(123.456, 6.789));
        assertEquals("5.00 ± 0.00", Units.spread(5, 0));
    }
}
