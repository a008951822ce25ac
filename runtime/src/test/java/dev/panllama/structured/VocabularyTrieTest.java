package dev.panllama.structured;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The vocabulary's prefix tree allows exactly the tokens that feeding each one's bytes would allow. */
class VocabularyTrieTest {

    @Test
    void theTreeAllowsWhatFeedingEachTokenAllows() {
        SplittableRandom random = new SplittableRandom(5);
        List<byte[]> tokens = new ArrayList<>();
        for (String text : List.of("{", "}", "\"", "\"a", "\"ab", "\"ab\"", "a", "ab", "ab", "1", "12", "-", "true", "t",
                "\":", "\": ", ", \"", "]", "[", "null", "\"}", "", " ", "\n", "é", "1.5", "e+", "x\"")) {
            tokens.add(text.getBytes(StandardCharsets.UTF_8));
        }
        String alphabet = "{}[]\",:-.0123456789abetrunl \n\\";
        for (int i = 0; i < 300; i++) {
            byte[] bytes = new byte[1 + random.nextInt(4)];
            for (int j = 0; j < bytes.length; j++) {
                bytes[j] = (byte) alphabet.charAt(random.nextInt(alphabet.length()));
            }
            tokens.add(bytes);
        }
        tokens.add(new byte[] {(byte) 0xC3});
        tokens.add(new byte[] {(byte) 0xA9, '"'});
        VocabularyTrie trie = VocabularyTrie.of(tokens.toArray(byte[][]::new));

        JsonSchema schema = JsonSchema.compile(JsonPrefixMatcherTest.PERSON);
        JsonPrefixMatcher matcher = schema.matcher();
        // Walk a document, checking the tree against token-by-token feeding at every byte of it.
        String document = "{\"name\":\"é\\\"b\",\"age\":-12,\"tags\":[\"x\", \"y\"],\"address\":{\"city\":\"\"}}";
        int checked = 0;
        for (byte b : document.getBytes(StandardCharsets.UTF_8)) {
            boolean[] fromTree = new boolean[tokens.size()];
            trie.allowed(matcher, fromTree);
            boolean[] oneByOne = new boolean[tokens.size()];
            for (int id = 0; id < tokens.size(); id++) {
                oneByOne[id] = tokens.get(id).length > 0 && !matcher.feed(tokens.get(id)).isDead();
                checked += oneByOne[id] ? 1 : 0;
            }
            assertArrayEquals(oneByOne, fromTree, "after a prefix of " + document);
            matcher = matcher.feed(b & 0xFF);
        }
        assertTrue(matcher.isComplete());
        assertTrue(checked > 100, "the walk allowed tokens along the way: " + checked);
    }
}
