package dev.vmmigrate.cli;

import dev.vmmigrate.units.Units;
import java.time.Duration;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** picocli converters for sizes, rates and durations (DESIGN.md section 5's units). */
final class UnitConverters {
    private UnitConverters() {
    }

    /** "4G", "512M", "4096": bytes, powers of two. */
    static final class Size implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return Units.parseSize(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** "512M/s" or "unlimited": bytes per second. */
    static final class Rate implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return Units.parseRate(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** "300ms", "5s", "2m". */
    static final class Time implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            try {
                return Units.parseDuration(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** A duration that must be more than zero (a stall timeout of 0 would fail every migration at once). */
    static final class PositiveTime implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            Duration duration = new Time().convert(value);
            if (duration.isZero() || duration.isNegative()) {
                throw new TypeConversionException("'" + value + "' must be more than 0");
            }
            return duration;
        }
    }
}
