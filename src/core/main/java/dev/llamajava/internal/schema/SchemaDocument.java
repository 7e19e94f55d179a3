package dev.llamajava.internal.schema;

import java.util.Collections;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A schema built from JSON: its root node and the targets of its {@code $ref}s, keyed by the reference text in
 * sorted order (llama.cpp's {@code common_chat_schema_document}).
 *
 * @param root the root node
 * @param refs the {@code $ref} targets, e.g. {@code "#/$defs/item"}; unmodifiable
 */
public record SchemaDocument(Schema root, SortedMap<String, Schema> refs) {

    /** Checks the fields and copies the map. */
    public SchemaDocument {
        Objects.requireNonNull(root);
        refs = Collections.unmodifiableSortedMap(new TreeMap<>(refs));
    }
}
