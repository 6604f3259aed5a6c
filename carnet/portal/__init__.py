"""The patient portal: a patient's own appointments, online booking and access history."""
