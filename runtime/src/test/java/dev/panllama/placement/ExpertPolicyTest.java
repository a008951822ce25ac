package dev.panllama.placement;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The expert cache's parts that need no device: its policies' scores, a split's order, statistics, profiles. */
class ExpertPolicyTest {

    @Test
    void lruScoresTheLastStepThatChoseAnExpert() {
        double[] scores = new double[4];
        ExpertPolicy.LRU.update(scores, new int[] {3, 0, 1, 0}, 1);
        ExpertPolicy.LRU.update(scores, new int[] {0, 1, 0, 0}, 2);
        assertArrayEquals(new double[] {1, 2, 1, 0}, scores);
    }

    @Test
    void lfuWithDecayCountsEarlierStepsLess() {
        double[] scores = new double[3];
        ExpertPolicy.LFU_DECAY.update(scores, new int[] {10, 0, 0}, 1);
        ExpertPolicy.LFU_DECAY.update(scores, new int[] {0, 1, 0}, 2);
        assertEquals(10 * ExpertPolicy.DECAY, scores[0], 1e-12);
        assertEquals(1, scores[1], 1e-12);
        assertEquals(0, scores[2]);
        // An expert chosen often long ago falls behind one chosen a little every step.
        for (long step = 3; step < 100; step++) {
            ExpertPolicy.LFU_DECAY.update(scores, new int[] {0, 1, 0}, step);
        }
        assertTrue(scores[1] > scores[0]);
    }

    @Test
    void policiesAreNamedAsTheOptionTakesThem() {
        assertEquals(ExpertPolicy.LRU, ExpertPolicy.named("LRU"));
        assertEquals(ExpertPolicy.LFU_DECAY, ExpertPolicy.named("lfu-decay"));
        assertThrows(IllegalArgumentException.class, () -> ExpertPolicy.named("fifo"));
    }

    @Test
    void aSplitsOrderPutsEachPairsOutputBack() {
        // Pairs 0..4: 1 and 3 hit, 0, 2 and 4 miss; the outputs lie hits first, then misses.
        ExpertSplit split = new ExpertSplit(new int[] {1, 3}, new int[] {0, 1}, new int[] {0, 2, 4}, new int[] {5, 6, 5});
        assertEquals(5, split.pairs());
        assertArrayEquals(new int[] {2, 0, 3, 1, 4}, split.order());
    }

    @Test
    void statisticsCountSinceASnapshot() {
        ExpertCacheStatistics before = new ExpertCacheStatistics(new int[] {1, 3}, new long[] {2, 0}, new long[] {2, 4}, new long[] {1, 1});
        ExpertCacheStatistics after = new ExpertCacheStatistics(new int[] {1, 3}, new long[] {5, 3}, new long[] {3, 5}, new long[] {1, 2});
        ExpertCacheStatistics since = after.since(before);
        assertArrayEquals(new long[] {3, 3}, since.hits());
        assertEquals(0.75, since.hitRate(0), 1e-12);
        assertEquals(6 / 8.0, since.hitRate(), 1e-12);
        assertEquals(1, since.totalLoads());
        assertTrue(after.describe().contains("layer   3: hit rate  37.5%"), after.describe());
    }

    @Test
    void aProfileLineThatIsNotOneSaysWhere() throws IOException {
        Path file = Files.createTempFile("profile", ".txt");
        try {
            Files.writeString(file, "# comment\n0: 3 1\n2:\nthree: 1\n");
            var error = assertThrows(IllegalArgumentException.class, () -> RoutingProfile.read(file));
            assertTrue(error.getMessage().contains(":4:"), error.getMessage());
            Files.writeString(file, "# comment\n0: 3 1\n2:\n");
            var profile = RoutingProfile.read(file);
            assertArrayEquals(new int[] {3, 1}, profile.get(0));
            assertArrayEquals(new int[0], profile.get(2));
        } finally {
            Files.delete(file);
        }
    }

    @Test
    void sizesAreParsedAsTheOptionTakesThem() {
        assertEquals(4L << 30, ExpertCacheOptions.parse("4GiB").bytes());
        assertTrue(ExpertCacheOptions.parse("auto").auto());
        assertThrows(IllegalArgumentException.class, () -> ExpertCacheOptions.parse("0"));
        assertThrows(IllegalArgumentException.class, () -> ExpertCacheOptions.parse("lots"));
    }
}
