package dev.llamajava;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Sets a system property (a llama-java setting) for a whole test class, and restores what was there after it: for the
 * classes that run another class's cases and references again under another setting.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(WithProperty.Extension.class)
@interface WithProperty {

    /** @return the property */
    String key();

    /** @return its value for the class's tests */
    String value();

    /** Sets the property before the class's tests and restores it after them. */
    final class Extension implements BeforeAllCallback, AfterAllCallback {
        private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(WithProperty.class);

        @Override
        public void beforeAll(ExtensionContext c) {
            WithProperty p = c.getRequiredTestClass().getAnnotation(WithProperty.class);
            String old = System.getProperty(p.key());
            c.getStore(NS).put("old", old == null ? "" : old);
            System.setProperty(p.key(), p.value());
        }

        @Override
        public void afterAll(ExtensionContext c) {
            WithProperty p = c.getRequiredTestClass().getAnnotation(WithProperty.class);
            String old = c.getStore(NS).get("old", String.class);
            if (old == null || old.isEmpty()) System.clearProperty(p.key());
            else System.setProperty(p.key(), old);
        }
    }
}
