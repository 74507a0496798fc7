# TINY: start-up and exit only (what every Python program pays), one print.
print("hello")
