package dev.panllama.boundary;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.constantpool.ClassEntry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The FFM boundary, enforced by the build rather than by convention: only the runtime's ggml view
 * ({@code dev.panllama.ggml}) and the loader ({@code dev.panllama.bindings}) may name the generated ggml
 * bindings. Every class every module compiled is read, and each class it refers to is checked.
 */
class FfmBoundaryTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final List<String> MODULES = List.of("bindings", "runtime", "tools", "quantize", "server", "langchain4j", "cli");
    private static final String GENERATED = "dev/panllama/bindings/ggml/";
    private static final List<String> ALLOWED = List.of(GENERATED, "dev/panllama/ggml/", "dev/panllama/bindings/");

    @Test
    void onlyTheGgmlViewAndTheLoaderNameTheGeneratedBindings() throws IOException {
        TreeSet<String> offenders = new TreeSet<>();
        int classes = 0;
        int viewClassesUsingThem = 0;
        for (String module : MODULES) {
            Path compiled = ROOT.resolve(module).resolve("target/classes");
            assertTrue(Files.isDirectory(compiled), compiled + " is missing: build the modules first");
            for (Path file : classFiles(compiled)) {
                ClassModel model = ClassFile.of().parse(Files.readAllBytes(file));
                String name = model.thisClass().asInternalName();
                classes++;
                boolean allowed = ALLOWED.stream().anyMatch(name::startsWith);
                for (var entry : model.constantPool()) {
                    if (entry instanceof ClassEntry referenced && referenced.asInternalName().contains(GENERATED)) {
                        if (!allowed) {
                            offenders.add(name + " -> " + referenced.asInternalName());
                        } else if (name.startsWith("dev/panllama/ggml/")) {
                            viewClassesUsingThem++;
                            break;
                        }
                    }
                }
            }
        }
        assertTrue(classes > 100, "read " + classes + " classes");
        // The scan sees references where they are allowed, so an empty list below means none elsewhere.
        assertTrue(viewClassesUsingThem >= 5, viewClassesUsingThem + " classes of the ggml view name the bindings");
        assertEquals(List.of(), new ArrayList<>(offenders), "classes outside dev.panllama.ggml and dev.panllama.bindings that name generated bindings");
    }

    private static List<Path> classFiles(Path directory) throws IOException {
        try (Stream<Path> files = Files.walk(directory)) {
            return files.filter(f -> f.toString().endsWith(".class")).toList();
        }
    }
}
