package dev.panllama.api;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** The version of panllama that Maven wrote into the runtime's jar, for {@code panllama --version} and servers that report it. */
public final class PanllamaVersion {

    private PanllamaVersion() {
    }

    /** The project's version, such as {@code 0.1.0-SNAPSHOT}; "unknown" when the classes run without their resources. */
    public static String current() {
        try (InputStream in = PanllamaVersion.class.getResourceAsStream("version.properties")) {
            Properties properties = new Properties();
            if (in != null) {
                properties.load(in);
            }
            return properties.getProperty("version", "unknown");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
